/**
 * One sync per origin without SharedWorker (Chrome on Android): the tabs of one database elect a
 * leader with the Web Locks API; the leader runs the dedicated sync worker behind the multiplexer
 * (src/worker/multiplex.ts) and serves the other tabs (followers) over a BroadcastChannel. To its
 * client every tab looks the same: messages in, messages out.
 *
 * Hand-over: the leader holds the lock `rootsync-leader:<db>` for as long as it leads; the other
 * tabs wait for it. A closed leader releases it and the next tab takes over, starting its own worker,
 * which resumes from the store where the old one stopped; followers then say hello again, and send
 * their `start` and their requests still unanswered. A frozen leader (a background tab the browser
 * froze) keeps its lock but stops heart-beating: after `staleMs` without a beat a follower takes the
 * lock with `steal`. The old leader, once thawed, finds its lock request rejected (or hears another
 * leader's beat) and terminates its worker before it does anything more. Each lead has a term, one
 * more than any this tab has seen: a beat of a higher term than a leader's own deposes it, and
 * followers follow the highest term, so a thawed leader's stale beat moves nobody.
 *
 * Security considerations: one writer at a time is what keeps the store consistent; the lock
 * enforces it between live tabs. A frozen page's dedicated worker is frozen with it, so a stolen
 * lock does not leave two workers writing at once; on thaw the old worker is terminated as its page
 * learns of the loss (a batch it had in flight commits atomically or not at all). A writer frozen
 * inside an IndexedDB transaction keeps it open: the new leader's transactions wait behind it (the
 * database's own locking, so never two writes at once) until the old worker ends. Every tab of the
 * origin is trusted alike (they share the database anyway).
 *
 * Limits: a MessagePort cannot cross a BroadcastChannel, so a follower's WebRTC-only peers are not
 * bridged (the leader's are). A background leader whose timers the browser throttles below one per
 * `staleMs` (Chrome's intensive throttling after minutes hidden) looks frozen and is replaced; the
 * hand-over is safe, only wasteful.
 */
import type { FromWorker, ToWorker } from '../api/worker-protocol.ts'
import { createMultiplex, type PageMessage } from '../worker/multiplex.ts'

/** What the channel carries. */
type Wire =
  | { kind: 'beat'; leader: string; term: number }
  | { kind: 'hello'; from: string }
  | { kind: 'leave'; from: string }
  | { kind: 'to'; from: string; m: ToWorker }
  | { kind: 'from'; leader: string; to: string; m: FromWorker }

export interface LeaderOptions {
  /** The dedicated sync worker this tab runs while it leads. */
  dedicated(): Worker
  /** A leader's heartbeat period (default 500 ms). */
  beatMs?: number
  /** A follower takes the lock from a leader silent this long (default 5000 ms, plus jitter). */
  staleMs?: number
  /** Hears this tab's role as it changes. */
  onRole?(role: 'leader' | 'follower'): void
}

export interface Endpoint {
  post(m: ToWorker, transfer: Transferable[]): void
  close(): void
}

export function connectLeader(
  dbName: string,
  deliver: (m: FromWorker) => void,
  opts: LeaderOptions,
): Endpoint {
  const me = crypto.randomUUID()
  const lockName = `rootsync-leader:${dbName}`
  const channel = new BroadcastChannel(`rootsync:${dbName}`)
  const beatMs = opts.beatMs ?? 500
  const staleMs = (opts.staleMs ?? 5000) + Math.random() * beatMs * 2
  let closed = false
  /** What is resent to a new leader: the running `start` and the requests still unanswered. */
  let started: Extract<ToWorker, { type: 'start' }> | null = null
  const unanswered = new Map<number, Extract<ToWorker, { id: number }>>()
  /** The leader this tab follows (null: none known yet, or this tab leads). */
  let leader: string | null = null
  /** The highest term heard (a lead's number: each new lead takes the next). */
  let term = 0
  let lastBeat = performance.now()
  /** While this tab leads: its worker, the multiplexer's input for this tab, followers' inputs. */
  let lead: {
    worker: Worker
    local: (m: PageMessage) => void
    followers: Map<string, (m: PageMessage) => void>
    release(): void
    /** The lock request that granted the lead: its rejection means the lock was stolen. */
    token: object
    beat: ReturnType<typeof setInterval>
  } | null = null
  let waiting: AbortController | null = null

  const receive = (m: FromWorker) => {
    if ('id' in m) unanswered.delete(m.id)
    deliver(m)
  }

  /** Resends this tab's state to a new leader (or to itself, on becoming the leader). */
  function rejoin(send: (m: ToWorker) => void) {
    if (started) send(started)
    for (const m of unanswered.values()) send(m)
  }

  function becomeLeader(release: () => void, token: object) {
    if (closed) return release()
    const worker = opts.dedicated()
    const mux = createMultiplex((m) => worker.postMessage(m))
    worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      mux.fromHost(ev.data)
      // The database was upgraded or deleted elsewhere: this worker's store is closed for good. A
      // fresh worker (this tab's or another's, whoever gets the lock) opens it again.
      const m = ev.data
      if (m.type === 'event' && m.event.type === 'error' && m.event.code === 'STORE_VERSION_CHANGED')
        queueMicrotask(resign)
    }
    worker.onerror = (e) =>
      mux.fromHost({
        type: 'event',
        event: {
          type: 'error',
          code: 'WORKER_CRASHED',
          message: e.message || 'the sync worker stopped',
          retryInMs: null,
        },
      })
    const myTerm = ++term
    let lastTick = performance.now()
    const beat = () => {
      // A tick long overdue: this tab was frozen, and a follower may hold the lock by now. Its worker
      // stops here rather than write beside the new leader's (it takes the lock again if free).
      if (performance.now() - lastTick > staleMs) return resign()
      lastTick = performance.now()
      channel.postMessage({ kind: 'beat', leader: me, term: myTerm } satisfies Wire)
    }
    lead = {
      worker,
      local: mux.connect(receive),
      followers: new Map(),
      release,
      token,
      beat: setInterval(beat, beatMs),
    }
    const follower = (id: string) => {
      let input = lead?.followers.get(id)
      if (!input && lead) {
        input = mux.connect((m) =>
          channel.postMessage({ kind: 'from', leader: me, to: id, m } satisfies Wire),
        )
        lead.followers.set(id, input)
      }
      return input
    }
    leaderInbox = (w) => {
      if (w.kind === 'hello') {
        lead?.followers.get(w.from)?.({ type: 'leave' })
        lead?.followers.delete(w.from)
        follower(w.from)
      } else if (w.kind === 'to') follower(w.from)?.(w.m)
      else if (w.kind === 'leave') {
        lead?.followers.get(w.from)?.({ type: 'leave' })
        lead?.followers.delete(w.from)
      } else if (w.kind === 'beat' && w.leader !== me) {
        term = Math.max(term, w.term)
        if (w.term > myTerm) resign() // another tab took the lock
      }
    }
    leader = null
    opts.onRole?.('leader')
    beat()
    rejoin(lead.local)
  }

  let leaderInbox: ((w: Wire) => void) | null = null

  /** This tab lost (or gave up) the lead: its worker ends at once, before it writes anything more. */
  function resign() {
    const l = lead
    if (!l) return
    lead = null
    leaderInbox = null
    clearInterval(l.beat)
    // The tab that holds the lock now gets a full `staleMs` to be heard before anyone steals it.
    lastBeat = performance.now()
    l.worker.terminate()
    l.release()
    if (!closed) {
      opts.onRole?.('follower')
      queue()
    }
  }

  /**
   * Asks for the lock: `first` only if free (so a tab knows at once whether it leads), `wait` until
   * it is released, `steal` from a silent leader.
   */
  function queue(mode: 'first' | 'wait' | 'steal' = 'wait') {
    waiting?.abort()
    const ac = new AbortController()
    waiting = mode === 'wait' ? ac : null
    const token = {}
    const granted = (lock: Lock | null) =>
      new Promise<void>((release) => {
        if (waiting === ac) waiting = null
        if (lock) return becomeLeader(release, token)
        release()
        opts.onRole?.('follower')
        if (!closed) queue('wait')
      })
    const options: LockOptions =
      mode === 'first' ? { ifAvailable: true } : mode === 'steal' ? { steal: true } : { signal: ac.signal }
    navigator.locks
      .request(lockName, options, granted)
      // Rejected: given up (close, a steal of our own) or stolen from this tab while it led.
      .catch(() => {
        if (lead?.token === token) resign()
      })
  }

  channel.onmessage = (ev: MessageEvent<Wire>) => {
    const w = ev.data
    if (lead) return leaderInbox?.(w)
    if (w.kind === 'beat') {
      if (w.term < term) return // a deposed leader, thawed: not followed
      term = w.term
      lastBeat = performance.now()
      if (w.leader !== leader) {
        leader = w.leader
        channel.postMessage({ kind: 'hello', from: me } satisfies Wire)
        rejoin((m) => channel.postMessage({ kind: 'to', from: me, m } satisfies Wire))
      }
    } else if (w.kind === 'from' && w.to === me && w.leader === leader) receive(w.m)
  }

  const watchdog = setInterval(() => {
    // Waiting for a lock whose holder has not beaten for a while (or ever, since this tab opened).
    if (!lead && waiting && performance.now() - lastBeat > staleMs) {
      leader = null
      queue('steal')
    }
  }, beatMs)

  const leave = () => {
    if (!lead) channel.postMessage({ kind: 'leave', from: me } satisfies Wire)
  }
  addEventListener('pagehide', leave)

  queue('first')

  return {
    post(m, transfer) {
      if (m.type === 'start') started = m
      if (m.type === 'stop') started = null
      if ('id' in m && m.type !== 'cancel') unanswered.set(m.id, m)
      if (m.type === 'cancel') unanswered.delete(m.id)
      if (lead) {
        // A MessagePort (a bridged WebRTC peer) reaches the worker only from this tab.
        if (m.type === 'add-peer') lead.worker.postMessage(m, transfer)
        else lead.local(m)
      } else if (m.type === 'add-peer')
        m.port.close() // ports do not cross a BroadcastChannel
      else if (leader) channel.postMessage({ kind: 'to', from: me, m } satisfies Wire)
      // No leader yet: `start` and requests go at hello; a stop has nothing to stop.
      else if (m.type === 'stop')
        deliver({ type: 'event', event: { type: 'phase', phase: 'stopped', detail: 'no leader' } })
    },
    close() {
      if (closed) return
      closed = true
      clearInterval(watchdog)
      removeEventListener('pagehide', leave)
      leave()
      waiting?.abort()
      if (lead) lead.local({ type: 'leave' })
      resign()
      channel.close()
    },
  }
}
