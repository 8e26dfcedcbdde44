// How large Raft's messages may be, derived from the one number that bounds
// them: the largest frame of the wire between nodes (runtime/net/frame.ts,
// PeerPort.maxFrameBytes). A message that does not fit a frame is not sent at
// all, so a Raft append larger than the frame would be retried forever and
// replication to that follower would stop for good.
//
//   frame ≤ maxFrameBytes
//   = transport envelope + channel envelope + append fields   (≤ FRAME_ENVELOPE_BYTES)
//     + the entries                                           (≤ maxAppendBytes, counted by entrySize)
//
// Raft caps each append at maxAppendBytes (its maxSizePerMsg) but always sends
// at least one entry, so no entry may be larger than that on its own: the host
// refuses such a proposal (fitsOneAppend) before it reaches the log, where it
// would block every entry after it.
import { ENTRY_WIRE_OVERHEAD, MAX_JSON_EXPANSION, jsonStringBytes } from '../raft/types.ts';
import { DEFAULT_MAX_FRAME_BYTES } from '../net/frame.ts';

/**
 * Bytes of a frame around an append's entries: the transport's frame
 * (`{"type":"frame","data":{"p":…}}`), the peer port's channel envelope
 * (`{"c":"raft/<group>","b":…}`) and the append's own fields (type, from, to,
 * term, index, logTerm, commit). With node names as the transport allows them
 * (at most 63 characters of [A-Za-z0-9._-]), a group name of up to 64 such
 * characters and every number at 16 digits this is under 400 bytes
 * (test/raft/append-size.test.ts builds that worst case); 1 KiB leaves room.
 */
export const FRAME_ENVELOPE_BYTES = 1024;

export interface RaftSizeLimits {
  /** Largest frame of the wire. */
  maxFrameBytes: number;
  /** Raft's maxSizePerMsg: bytes of the entries of one append (entrySize). */
  maxAppendBytes: number;
  /**
   * Largest proposal, in UTF-8 bytes, that fits one append when it is JSON
   * text itself (the CDB's commands: no raw control characters, no lone
   * surrogates): escaped into a message, such text at most doubles (`"` and
   * `\` take two bytes). A service can state this as its limit per write.
   */
  maxJsonProposalBytes: number;
}

export function raftSizeLimits(maxFrameBytes: number = DEFAULT_MAX_FRAME_BYTES): RaftSizeLimits {
  const maxAppendBytes = maxFrameBytes - FRAME_ENVELOPE_BYTES;
  if (!Number.isSafeInteger(maxFrameBytes) || maxAppendBytes < 4 * FRAME_ENVELOPE_BYTES) {
    throw new RangeError(`a frame limit of ${maxFrameBytes} bytes leaves too little room for Raft appends (at least ${5 * FRAME_ENVELOPE_BYTES} bytes are needed)`);
  }
  return { maxFrameBytes, maxAppendBytes, maxJsonProposalBytes: Math.floor((maxAppendBytes - ENTRY_WIRE_OVERHEAD - 2) / 2) };
}

/**
 * Whether an entry with this data fits one append of maxAppendBytes (and so
 * one frame). Bounded without reading the data when it is short enough for
 * that; measured otherwise.
 */
export function fitsOneAppend(data: string, maxAppendBytes: number): boolean {
  if (ENTRY_WIRE_OVERHEAD + 2 + MAX_JSON_EXPANSION * data.length <= maxAppendBytes) return true;
  return ENTRY_WIRE_OVERHEAD + jsonStringBytes(data) <= maxAppendBytes;
}
