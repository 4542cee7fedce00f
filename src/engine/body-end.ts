/**
 * Calls back once when a response body has been read to its end, has failed,
 * or was cancelled by the client. The body is passed through chunk by chunk
 * as the client reads it; nothing is buffered.
 * @module
 */
export function onBodyEnd(body: ReadableStream<Uint8Array>, ended: () => void): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let done = false;
  const end = () => {
    if (done) return;
    done = true;
    ended();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = await reader.read();
        if (chunk.done) {
          controller.close();
          end();
        } else {
          controller.enqueue(chunk.value);
        }
      } catch (e) {
        controller.error(e);
        end();
      }
    },
    async cancel(reason) {
      end();
      await reader.cancel(reason);
    },
  });
}
