// The one number every message between nodes is sized from: the largest frame
// a peer link carries. No dependencies, so the simulator's wire (which has no
// TLS) can use the same limit as the real transport.

/**
 * Default largest frame between nodes: UTF-8 bytes of its JSON, 1 MiB
 * (NodeTransport's maxFrameBytes, node-ipc's maxMessageSize). Raft derives
 * the size of its appends from it (runtime/raft-host/limits.ts).
 */
export const DEFAULT_MAX_FRAME_BYTES = 1024 * 1024;
