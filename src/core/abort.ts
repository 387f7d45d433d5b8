/**
 * A signal that aborts when `parent` does or after `ms`, with a `TimeoutError` reason.
 *
 * Built from an AbortController and setTimeout rather than `AbortSignal.any([…,
 * AbortSignal.timeout(ms)])`: in Node 20 a timeout signal only weakly held inside `any()` can be
 * garbage-collected before it fires, leaving a request hanging forever. Call `clear()` when done.
 */
export function timeoutSignal(
  parent: AbortSignal | undefined,
  ms: number,
): { signal: AbortSignal; clear: () => void } {
  const ac = new AbortController()
  const onAbort = () => ac.abort(parent?.reason)
  if (parent?.aborted) ac.abort(parent.reason)
  else parent?.addEventListener('abort', onAbort, { once: true })
  const timer = setTimeout(() => ac.abort(new DOMException(`timed out after ${ms} ms`, 'TimeoutError')), ms)
  return {
    signal: ac.signal,
    clear: () => {
      clearTimeout(timer)
      parent?.removeEventListener('abort', onAbort)
    },
  }
}
