// The system a command names and the node it runs on: spec.node when pinned, else the
// scheduler's placement, else the node whose meta reports it (for `acp logs` and `acp system`).
import { CliError, EXIT, NotFoundError, UsageError } from '../errors.ts';
import type { Session } from '../objects.ts';
import type { StoredObject } from '../object-view.ts';

const SYSTEM_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** `vm1` or `system/vm1`. */
export function systemId(arg: string): string {
  const id = arg.startsWith('system/') ? arg.slice('system/'.length) : arg;
  if (!SYSTEM_ID.test(id)) throw new UsageError(`"${arg}" is not a system id (lowercase letters, digits, '.', '_' and '-'; e.g. vm1 or system/vm1)`);
  return id;
}

export async function getSystem(s: Session, id: string): Promise<{ revision: number; object: StoredObject }> {
  const r = await s.cdbOk({ op: 'get', type: 'system', id });
  if (!r.object) throw new NotFoundError(`system/${id} not found (revision ${r.revision as number})`);
  return { revision: r.revision as number, object: r.object as StoredObject };
}

/** The node that runs the system, or an error (exit 1) saying it is not placed. */
export async function hostOf(s: Session, o: StoredObject): Promise<string> {
  const spec = o.spec as { node?: string; placement?: { node?: string } };
  if (spec.node) return spec.node;
  if (spec.placement?.node) return spec.placement.node;
  const v = await s.view('system', o.id);
  if (v.metaFrom) return v.metaFrom;
  throw new CliError(`system/${o.id} is not placed on any node yet (acp describe system/${o.id})`, EXIT.failed);
}
