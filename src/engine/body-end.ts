/**
 * Calls back once when a response body has been read to its end, has failed,
 * or was cancelled by the client. The body is passed through chunk by chunk
 * as the client reads it; nothing is buffered. `seen` is shown each chunk
 * as it passes; `ended` is told whether the body was read to its end.
 * @module
 */
export function onBodyEnd(
  body: ReadableStream<Uint8Array>,
  ended: (complete: boolean) => void,
  seen?: (chunk: Uint8Array) => void,
): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let done = false;
  const end = (complete: boolean) => {
    if (done) return;
    done = true;
    ended(complete);
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const chunk = await reader.read();
        if (chunk.done) {
          controller.close();
          end(true);
        } else {
          seen?.(chunk.value);
          controller.enqueue(chunk.value);
        }
      } catch (e) {
        controller.error(e);
        end(false);
      }
    },
    async cancel(reason) {
      end(false);
      await reader.cancel(reason);
    },
  });
}
