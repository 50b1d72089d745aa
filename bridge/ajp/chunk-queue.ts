/**
 * Moves the first n bytes of a queue of chunks into dest at offset: chunks
 * used up leave the queue, a partly used one stays as a view of its rest.
 * The caller knows the queue holds at least n bytes. Shared by the AJP
 * reader (assembling a packet that spans reads) and the body reader (filling
 * a body packet from the client's chunks).
 */
export function takeInto(queue: Buffer[], n: number, dest: Buffer, offset: number): void {
  let filled = 0;
  while (filled < n) {
    const c = queue[0];
    const take = Math.min(c.length, n - filled);
    c.copy(dest, offset + filled, 0, take);
    filled += take;
    if (take === c.length) queue.shift();
    else queue[0] = c.subarray(take);
  }
}
