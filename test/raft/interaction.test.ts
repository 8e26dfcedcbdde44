// Scripted interaction tests in the spirit of etcd's datadriven testdata.
// Each fixtures/raft/*.txt file is a sequence of blocks:
//
//   # optional comment lines
//   command arg arg key=value
//   ----
//   expected output (no blank lines)
//   <blank line>
//
// The runner executes each command against a test Cluster and compares the
// output with the golden text. REWRITE=1 regenerates the goldens in place
// (then read the diff: goldens must encode correct behaviour).
import test from 'ava';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Cluster, fmtConf, fmtEntry, fmtMsg, fmtReady } from './harness.ts';
import type { NodeOpts } from './harness.ts';
import type { ConfChange, NodeId, ProposeResult, Result } from '../../runtime/raft/types.ts';

const DIR = join(import.meta.dirname, '../../fixtures/raft');

interface Block {
  comments: string[];
  cmd: string;
  expected: string;
  line: number;
}

function parse(text: string): { blocks: Block[]; trailer: string[] } {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  let comments: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const l = lines[i];
    if (l.trim() === '') {
      i++;
      continue;
    }
    if (l.startsWith('#')) {
      comments.push(l);
      i++;
      continue;
    }
    const cmd = l;
    const line = i + 1;
    i++;
    if (lines[i] !== '----') throw new Error(`line ${line}: expected ---- after command`);
    i++;
    const out: string[] = [];
    while (i < lines.length && lines[i].trim() !== '') out.push(lines[i++]);
    blocks.push({ comments, cmd, expected: out.join('\n'), line });
    comments = [];
  }
  return { blocks, trailer: comments };
}

function fmtResult(r: Result | ProposeResult): string {
  if (!r.ok) return `error ${r.error.code}: ${r.error.message}${r.error.leader ? ` (leader ${r.error.leader})` : ''}`;
  if ('index' in r) return `ok index=${r.index} term=${r.term}`;
  if ('forwarded' in r) return `ok forwarded to ${r.to}`;
  return 'ok';
}

class Env {
  c = new Cluster(1);
  next = 1;

  run(cmd: string): string[] {
    const parts = cmd.trim().split(/\s+/);
    const name = parts[0];
    const pos = parts.slice(1).filter((p) => !p.includes('='));
    const kv = new Map(parts.slice(1).filter((p) => p.includes('=')).map((p) => p.split('=') as [string, string]));
    const c = this.c;
    switch (name) {
      case 'add-nodes': {
        const n = Number(pos[0]);
        const opts: NodeOpts = {};
        if (kv.has('prevote')) opts.preVote = kv.get('prevote') === 'true';
        if (kv.has('checkquorum')) opts.checkQuorum = kv.get('checkquorum') === 'true';
        if (kv.has('election')) opts.electionTick = Number(kv.get('election'));
        if (kv.has('heartbeat')) opts.heartbeatTick = Number(kv.get('heartbeat'));
        if (kv.has('inflight')) opts.maxInflightMsgs = Number(kv.get('inflight'));
        if (kv.has('inflight-bytes')) opts.maxInflightBytes = Number(kv.get('inflight-bytes'));
        if (kv.has('max-msg')) opts.maxSizePerMsg = Number(kv.get('max-msg'));
        if (kv.has('forward')) opts.forwardProposals = kv.get('forward') === 'true';
        const ids = Array.from({ length: n }, (_, i) => String(this.next + i));
        this.next += n;
        const conf = pos.includes('join') ? { voters: [], learners: [] } : { voters: ids, learners: [] };
        for (const id of ids) c.addNode(id, conf, opts);
        return [`added ${ids.join(',')} ${fmtConf(conf)}`];
      }
      case 'campaign':
        return [fmtResult(c.node(pos[0]).campaign())];
      case 'tick': {
        const n = Number(pos[1] ?? 1);
        for (let i = 0; i < n; i++) c.node(pos[0]).tick();
        return ['ok'];
      }
      case 'tick-election':
        for (const id of pos) c.tickElection(id);
        return ['ok'];
      case 'tick-heartbeat':
        for (const id of pos) {
          const r = c.node(id).raft;
          for (let i = 0; i < r.heartbeatTimeout; i++) r.tick();
        }
        return ['ok'];
      case 'process-ready': {
        const out: string[] = [];
        for (const id of pos) {
          const rd = c.processReady(id);
          if (rd) out.push(...fmtReady(id, rd));
        }
        return out.length > 0 ? out : ['(no ready)'];
      }
      case 'deliver-msgs': {
        const out: string[] = [];
        for (const id of pos) out.push(...this.#deliverTo(id));
        return out.length > 0 ? out : ['(no messages)'];
      }
      case 'drop-msgs': {
        const before = c.inflight.length;
        c.inflight = c.inflight.filter((m) => (kv.has('to') && m.to !== kv.get('to')) || (kv.has('from') && m.from !== kv.get('from')));
        return [`dropped ${before - c.inflight.length}`];
      }
      case 'stabilize':
        return this.#stabilize();
      case 'propose':
        return [fmtResult(c.node(pos[0]).propose(pos[1] ?? ''))];
      case 'propose-conf-change': {
        const cc: ConfChange = { type: pos[1] as ConfChange['type'], node: pos[2] };
        return [fmtResult(c.node(pos[0]).proposeConfChange(cc))];
      }
      case 'partition':
        c.partition(pos.map((g) => g.split(',')));
        return ['ok'];
      case 'isolate':
        c.isolate(pos[0]);
        return ['ok'];
      case 'heal':
        c.heal();
        return ['ok'];
      case 'crash':
        c.crash(pos[0]);
        return ['ok'];
      case 'restart': {
        c.restart(pos[0]);
        const s = c.node(pos[0]).status();
        return [`restarted ${pos[0]}: term=${s.term} vote=${s.vote || '-'} commit=${s.commit} applied=${s.applied} last=${s.lastIndex} ${fmtConf(s.conf)}`];
      }
      case 'transfer-leader':
        return [fmtResult(c.node(pos[0]).transferLeader(pos[1]))];
      case 'read-index':
        return [fmtResult(c.node(pos[0]).readIndex(pos[1]))];
      case 'compact': {
        const s = c.compact(pos[0], Number(pos[1] ?? 0));
        const p = c.peer(pos[0]);
        return [`snapshot ${s.meta.term}/${s.meta.index} ${fmtConf(s.meta.conf)}; log now [${p.storage.firstIndex()}, ${p.storage.lastIndex()}]`];
      }
      case 'forget-leader':
        for (const id of pos) c.node(id).forgetLeader();
        return ['ok'];
      case 'report-unreachable':
        c.node(pos[0]).reportUnreachable(pos[1]);
        return ['ok'];
      case 'status': {
        const s = c.node(pos[0]).status();
        const out = [`${s.id}: ${s.role} term=${s.term} vote=${s.vote || '-'} lead=${s.lead || '-'} commit=${s.commit} applied=${s.applied} log=[${s.firstIndex},${s.lastIndex}] ${fmtConf(s.conf)}${s.leadTransferee ? ` transferee=${s.leadTransferee}` : ''}`];
        if (s.progress) {
          for (const [id, pr] of Object.entries(s.progress)) {
            out.push(`  ${id}: ${pr.state} match=${pr.match} next=${pr.next}${pr.paused ? ' paused' : ''}${pr.inflight ? ` inflight=${pr.inflight}` : ''}${pr.learner ? ' learner' : ''}`);
          }
        }
        return out;
      }
      case 'raft-state':
        return c.ids().map((id) => {
          const rn = c.peer(id).rn;
          if (!rn) return `${id}: crashed`;
          const s = rn.status();
          return `${id}: ${s.role} term=${s.term} lead=${s.lead || '-'} commit=${s.commit} applied=${s.applied} last=${s.lastIndex}`;
        });
      case 'raft-log': {
        const r = c.node(pos[0]).raft;
        const ents = r.log.allEntries();
        return [`first=${r.log.firstIndex()} last=${r.log.lastIndex()}`, ...(ents.length > 0 ? ents.map((e) => `  ${fmtEntry(e)}`) : ['  (empty)'])];
      }
      case 'app': {
        const p = c.peer(pos[0]);
        const data = p.applied.filter((e) => e.type === 'normal' && e.data !== '').map((e) => e.data);
        return [`applied=${p.appliedIndex} data=[${data.join(',')}]`];
      }
      case 'reads': {
        const p = c.peer(pos[0]);
        const out = p.reads.length > 0 ? p.reads.map((r) => `${r.requestCtx}@${r.index}`) : ['(none)'];
        p.reads = [];
        return [out.join(' ')];
      }
      default:
        throw new Error(`unknown command ${name}`);
    }
  }

  #deliverTo(id: NodeId): string[] {
    const msgs = this.c.takeFor(id);
    if (msgs.length === 0) return [];
    const out = [`> ${id} receiving messages`];
    for (const m of msgs) {
      const ok = this.c.deliver(m);
      out.push(`  ${fmtMsg(m)}${ok ? '' : ' DROPPED'}`);
    }
    return out;
  }

  #stabilize(): string[] {
    const out: string[] = [];
    for (let round = 0; round < 100; round++) {
      let busy = false;
      for (const id of this.c.ids()) {
        const rd = this.c.processReady(id);
        if (rd) {
          busy = true;
          out.push(...fmtReady(id, rd));
        }
      }
      const targets = [...new Set(this.c.inflight.map((m) => m.to))].sort((a, b) => Number(a) - Number(b));
      for (const id of targets) {
        busy = true;
        out.push(...this.#deliverTo(id));
      }
      if (!busy) return out.length > 0 ? out : ['(quiet)'];
    }
    throw new Error('stabilize did not converge');
  }
}

const files = readdirSync(DIR).filter((f) => f.endsWith('.txt')).sort();
const rewrite = process.env.REWRITE === '1';

for (const f of files) {
  test(`interaction ${f}`, (t) => {
    const path = join(DIR, f);
    const { blocks, trailer } = parse(readFileSync(path, 'utf8'));
    const env = new Env();
    const rewritten: string[] = [];
    for (const b of blocks) {
      let actual: string;
      try {
        actual = env.run(b.cmd).join('\n');
      } catch (e) {
        actual = `panic: ${(e as Error).message}`;
      }
      if (rewrite) {
        rewritten.push(...b.comments, b.cmd, '----', actual, '');
      } else {
        t.is(actual, b.expected, `${f}:${b.line}: ${b.cmd}`);
      }
    }
    if (rewrite) {
      writeFileSync(path, [...rewritten, ...trailer].join('\n').replace(/\n+$/, '\n'));
      t.pass();
    }
  });
}
