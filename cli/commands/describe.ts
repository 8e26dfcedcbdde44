// `acp describe TYPE/ID`: everything about one object, as `kubectl describe`
// shows a resource: its spec, its merged state and reason, every node's
// condition with the age of its report and its info, the stats merged and
// per node, its revisions and the history of its writes the CDB still keeps.
import type { Command } from 'commander';
import { NotFoundError, UsageError } from '../errors.ts';
import { parseRef, REF_HINT } from '../kinds.ts';
import { apiKeyOption, dirOption, type KeyOptions } from '../options.ts';
import { emit, formatOf, outputOptions, type OutputOptions } from '../output.ts';

type Options = KeyOptions & OutputOptions & { node?: string };

export function register(cmd: Command): void {
  cmd.argument('<type/id>', 'the object: node/n1, pool/p1, storage/p1, network/lan, service/n1-cdb, …').argument('[id]', 'the id, when TYPE is given apart (describe pool p1)');
  dirOption(cmd);
  apiKeyOption(cmd);
  cmd.option('--node <name>', 'ask this node (default: any, following the leader)');
  outputOptions(cmd)
    .addHelpText(
      'after',
      `
TYPE is a kind (node, network, device, pool, share, system, service) or the
CDB's type (storage/p1 is whichever storage object p1 is). -o json|yaml gives
{ object, status, history }.

Exit codes: 3 when the object does not exist, 4 when no node answers.

Examples:
  $ acp describe node/n1
  $ acp describe pool/p1
  $ acp describe storage/p1 -o yaml
  $ acp describe network lan`,
    )
    .action(async (ref: string, id: string | undefined, o: Options) => {
      const format = formatOf(o);
      const r = parseRef(ref, id);
      if (!r) throw new UsageError(REF_HINT);
      const { target } = await import('../client.ts');
      const { Session, getObject, describeObject } = await import('../objects.ts');
      const { renderDescription } = await import('../object-view.ts');
      const s = await Session.open(target(o), o.node);
      try {
        const g = await getObject(s, r.type, r.id);
        if (!g.object) throw new NotFoundError(`${r.type}/${r.id} not found (revision ${g.revision})`);
        if (r.subtype !== undefined && g.object.subtype !== r.subtype) {
          throw new NotFoundError(`${ref}${id ? ` ${id}` : ""} not found: ${r.type}/${r.id} is a ${g.object.subtype} (acp describe ${r.type}/${r.id})`);
        }
        const d = await describeObject(s, g.object);
        await emit(format, { object: d.item.object, status: d.item.status, history: d.history }, () => renderDescription(d));
      } finally {
        s.close();
      }
    });
}
