import { inflateRawSync } from 'node:zlib';

/** A zip reader just wide enough for the function archives osls writes; no package for forty lines. */

export interface ZipEntry {
  name: string;
  data: () => Buffer;
}

/** Lists a zip's entries from its central directory (the format osls writes: stored or deflated, no zip64). */
export function readZip(buffer: Buffer): ZipEntry[] {
  const eocd = buffer.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('not a zip file');
  const count = buffer.readUInt16LE(eocd + 10);
  let offset = buffer.readUInt32LE(eocd + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    if (buffer.readUInt32LE(offset) !== 0x02014b50) throw new Error('bad central directory');
    const method = buffer.readUInt16LE(offset + 10);
    const compressedSize = buffer.readUInt32LE(offset + 20);
    const nameLength = buffer.readUInt16LE(offset + 28);
    const extraLength = buffer.readUInt16LE(offset + 30);
    const commentLength = buffer.readUInt16LE(offset + 32);
    const localOffset = buffer.readUInt32LE(offset + 42);
    const name = buffer.toString('utf8', offset + 46, offset + 46 + nameLength);
    entries.push({
      name,
      data: () => {
        const start = localOffset + 30 + buffer.readUInt16LE(localOffset + 26) + buffer.readUInt16LE(localOffset + 28);
        const raw = buffer.subarray(start, start + compressedSize);
        return method === 0 ? Buffer.from(raw) : inflateRawSync(raw);
      },
    });
    offset += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}
