// `acp system start|stop|restart SYSTEM`. Start and stop set the system's desired state in
// the CDB (spec.autostart true/false, a compare-and-set put: a concurrent write is re-read and
// the put retried), which the Hypervisor of the node that runs it reconciles. Restart is a stop
// then a start through the same field, waiting in between for the node to report the
// workload stopped (see the help text for why).
import type { Command } from 'commander';
import { CliError, EXIT } from '../errors.ts';
import { apiKeyOption, dirOption, intOption, type KeyOptions } from '../options.ts';
import { emit, formatOf, outputOptions, type OutputOptions } from '../output.ts';
import type { Session } from '../objects.ts';
import { getSystem, hostOf, systemId } from './system-target.ts';

type Options = KeyOptions & OutputOptions & { wait?: boolean; timeout: string };
type Phase = 'running' | 'stopped';

/** Set spec.autostart with a CAS put; `changed` false when it already had that value. */
async function setAutostart(s: Session, id: string, run: boolean): Promise<{ changed: boolean; revision: number }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const { object: o } = await getSystem(s, id);
    if ((o.spec.autostart ?? true) === run) return { changed: false, revision: o.revision };
    const spec = { ...o.spec, autostart: run };
    const r = await s.cdb({ op: 'put', object: { type: o.type, id: o.id, spec }, expectRevision: o.revision }, `system/${id}`);
    if (r.ok) return { changed: true, revision: r.revision as number };
    if (r.code !== 'conflict') throw new CliError(`system/${id}: ${r.code}: ${r.message}`, r.code === 'invalid' ? EXIT.invalid : r.code === 'unavailable' || r.code === 'not-leader' ? EXIT.unreachable : EXIT.failed);
  }
  throw new CliError(`system/${id}: changed by someone else 5 times in a row; try again`, EXIT.failed);
}

/** The workload's phase as its node reports it (info.phase of the freshest meta). */
type PhaseView = { phase?: string; state: string; reason?: string; node?: string; run?: number };
async function phaseOf(s: Session, id: string): Promise<PhaseView> {
  const v = await s.view('system', id);
  const m = (v.meta as { info?: Record<string, unknown>; reason?: string } | undefined) ?? {};
  return {
    state: v.state,
    ...(typeof m.info?.phase === 'string' ? { phase: m.info.phase } : {}),
    ...(m.reason ? { reason: m.reason } : {}),
    ...(v.metaFrom ? { node: v.metaFrom } : {}),
    ...(typeof m.info?.run === 'number' ? { run: m.info.run } : {}),
  };
}

/** Poll the system's meta until its phase is `want` (stopped: anything but running/starting). */
async function waitPhase(s: Session, id: string, want: Phase, timeoutMs: number): Promise<PhaseView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await phaseOf(s, id);
    const ok = want === 'running' ? p.phase === 'running' : p.phase !== undefined && p.phase !== 'running' && p.state !== 'pending';
    if (ok) return p;
    if (want === 'running' && p.state === 'failed') throw new CliError(`system/${id} failed to start: ${p.reason ?? 'no reason given'}`, EXIT.failed);
    if (Date.now() > deadline) {
      throw new CliError(`system/${id} is not ${want} after ${Math.round(timeoutMs / 1000)} s: ${p.state}${p.phase ? ` (${p.phase})` : ''}${p.reason ? `: ${p.reason}` : ''}`, EXIT.failed);
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

function sub(parent: Command, name: 'start' | 'stop' | 'restart', summary: string, help: string): void {
  const c = parent.command(name).description(summary).argument('<system>', 'the system: vm1 or system/vm1');
  dirOption(c);
  apiKeyOption(c);
  if (name !== 'restart') c.option('--wait', `wait until its node reports it ${name === 'start' ? 'running' : 'stopped'}`);
  c.option('--timeout <seconds>', 'how long to wait for its node (default 60)', '60');
  outputOptions(c)
    .addHelpText('after', help)
    .action(async (arg: string, o: Options) => {
      const format = formatOf(o);
      const id = systemId(arg);
      const timeoutMs = intOption('--timeout', o.timeout, 1, 3600) * 1000;
      const { target } = await import('../client.ts');
      const { Session } = await import('../objects.ts');
      const s = await Session.open(target(o));
      try {
        const { object } = await getSystem(s, id);
        let changed: boolean;
        let status: PhaseView | undefined;
        if (name === 'restart') {
          // Placed somewhere (or the wait below could only time out).
          await hostOf(s, object);
          await setAutostart(s, id, false);
          try {
            await waitPhase(s, id, 'stopped', timeoutMs);
          } finally {
            // Started again even when the wait failed: a restart never leaves it stopped on purpose.
            await setAutostart(s, id, true);
          }
          status = await waitPhase(s, id, 'running', timeoutMs);
          changed = true;
        } else {
          changed = (await setAutostart(s, id, name === 'start')).changed;
          if (o.wait) status = await waitPhase(s, id, name === 'start' ? 'running' : 'stopped', timeoutMs);
        }
        const verb = name === 'start' ? 'started' : name === 'stop' ? 'stopped' : 'restarted';
        const what = name === 'restart' ? verb : changed ? `${verb}${o.wait ? '' : ' (desired state set; acp get systems shows when its node has done it)'}` : `already ${name === 'start' ? 'set to run' : 'set to stop'}`;
        await emit(format, { system: id, action: name, changed, ...(status ? { state: status.state, phase: status.phase, node: status.node, ...(status.run !== undefined ? { run: status.run } : {}) } : {}) }, () => `system/${id} ${what}`);
      } finally {
        s.close();
      }
    });
}

export function register(cmd: Command): void {
  cmd.addHelpText(
    'after',
    `
Examples:
  $ acp system stop web1 --wait
  $ acp system start web1
  $ acp system restart web1`,
  );
  sub(
    cmd,
    'start',
    'let the system run: set spec.autostart true',
    `
Sets the system's desired state (spec.autostart: true) in the CDB; the
Hypervisor of the node that runs it starts it. Without --wait it returns once
the CDB has the change.

Exit codes: 2 bad arguments, 3 no such system, 4 no node answers, 1 --wait
timed out or the start failed.

Examples:
  $ acp system start web1
  $ acp system start system/web1 --wait -o json`,
  );
  sub(
    cmd,
    'stop',
    'stop the system and keep it stopped: set spec.autostart false',
    `
Sets the system's desired state (spec.autostart: false) in the CDB; the
Hypervisor of its node stops it (SIGTERM, then SIGKILL after a grace period)
and leaves it stopped, across node restarts too, until acp system start.

Exit codes: 2 bad arguments, 3 no such system, 4 no node answers, 1 --wait
timed out.

Examples:
  $ acp system stop web1
  $ acp system stop web1 --wait --timeout 30`,
  );
  sub(
    cmd,
    'restart',
    'stop the system, wait until it is stopped, start it again',
    `
A restart is a stop and a start through the desired state in the CDB
(spec.autostart false, then true), waiting in between until the node reports
the workload stopped, then until it runs again. Why not a request straight to
the node's Hypervisor: the desired state stays in one place (the CDB), the
restart appears in the system's history (acp describe), it works whichever
node runs the system, and a node that restarts meanwhile still converges to
it. The system is started again even when the wait for the stop times out.

Exit codes: 2 bad arguments, 3 no such system, 4 no node answers, 1 a wait
timed out or the start failed.

Examples:
  $ acp system restart web1
  $ acp system restart web1 --timeout 120 -o json`,
  );
}
