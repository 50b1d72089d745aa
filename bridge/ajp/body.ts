import { HEADER_LEN, MAGIC_TO_CONTAINER } from "./codes.ts";

/** Request-body packets carry no type byte: magic, outer length, inner length, data (docs/ajp13.md, Body packets). */
export const BODY_PACKET_OVERHEAD = HEADER_LEN + 2;

/** Largest body data one packet can carry for a packet size (8186 for 8192). */
export function maxBodyChunk(packetSize: number): number {
  return packetSize - BODY_PACKET_OVERHEAD;
}

/**
 * Writes the 6 header bytes of a body packet at the start of `packet`, whose
 * data (dataLength bytes) is already in place behind them; returns the
 * packet's whole length. The caller keeps one such buffer per connection.
 */
export function writeBodyPacketHeader(packet: Buffer, dataLength: number): number {
  packet.writeUInt16BE(MAGIC_TO_CONTAINER, 0);
  packet.writeUInt16BE(dataLength + 2, 2);
  packet.writeUInt16BE(dataLength, 4);
  return BODY_PACKET_OVERHEAD + dataLength;
}
