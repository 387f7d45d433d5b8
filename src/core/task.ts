/**
 * Every long job (sync, follow, prune, verify, and next recovery and consistency) is a task: it runs
 * under an `AbortSignal`, and whoever starts it gets a handle with `stop()` and `done`. Progress goes
 * out as typed events (one union per job, gathered in the light client's event union), never as
 * free-text strings meant for machines.
 *
 * `stop()` aborts the signal; `done` then settles with whatever the job does on abort (normally a
 * rejection with `TaskStoppedError`, or the job's partial result if it chooses to return one).
 */
import { RootsyncError } from './errors.ts'

export interface Task<R> {
  readonly signal: AbortSignal
  /** Asks the job to stop; `done` settles once it has. */
  stop(reason?: string): void
  readonly done: Promise<R>
}

export class TaskStoppedError extends RootsyncError {
  constructor(
    readonly task: string,
    reason?: string,
  ) {
    super('TASK_STOPPED', `${task} stopped${reason ? `: ${reason}` : ''}`, { task })
    this.name = 'TaskStoppedError'
  }
}

/**
 * Starts `run` as a task named `name`. A `parent` signal stops it too (a job's sub-jobs share its
 * fate). `done` never rejects unhandled: attach your own handler to see failures.
 */
export function startTask<R>(
  name: string,
  run: (signal: AbortSignal) => Promise<R>,
  parent?: AbortSignal,
): Task<R> {
  const ac = new AbortController()
  const onParent = () => ac.abort(new TaskStoppedError(name, 'parent stopped'))
  if (parent?.aborted) onParent()
  else parent?.addEventListener('abort', onParent, { once: true })
  const done = Promise.resolve()
    .then(() => run(ac.signal))
    .finally(() => parent?.removeEventListener('abort', onParent))
  done.catch(() => {})
  return {
    signal: ac.signal,
    stop: (reason) => {
      if (!ac.signal.aborted) ac.abort(new TaskStoppedError(name, reason))
    },
    done,
  }
}

/** Throws the signal's reason (a `TaskStoppedError` for a stopped task) if it has aborted. */
export function throwIfStopped(signal: AbortSignal, name: string): void {
  if (signal.aborted)
    throw signal.reason instanceof Error ? signal.reason : new TaskStoppedError(name, String(signal.reason))
}
