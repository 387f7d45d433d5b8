/**
 * The world state: an account trie (secure keys) whose leaves point at per-contract storage tries and
 * code blobs, all in one node store. `StateDB` caches the accounts a block touches, and `commit()`
 * folds storage roots into accounts and accounts into the state root, returning the new nodes for the
 * caller to write in one atomic batch (with whatever head record goes with them).
 *
 * Copies are cheap (the tries are persistent), so block import works on a copy and drops it if the
 * block is refused.
 */
import {
  type Account,
  decodeAccount,
  decodeStorageValue,
  EMPTY_CODE_HASH,
  EMPTY_ROOT,
  emptyAccount,
  encodeAccount,
  encodeStorageValue,
} from '../account.ts'
import { bigintToBytes, equals, padLeft, toHex } from '../bytes.ts'
import { MissingNodeError } from '../errors.ts'
import { keccak256 } from '../hash.ts'
import type { NodeStore } from '../store.ts'
import { Trie } from '../trie/trie.ts'

interface Entry {
  address: Uint8Array
  account: Account | null
  storage?: Trie
  dirty: boolean
}

export interface StateCommit {
  root: Uint8Array
  /** New trie nodes and code blobs, children before parents. */
  nodes: [Uint8Array, Uint8Array][]
  /** Call once the nodes are written. */
  markStored: () => void
}

export class StateDB {
  private accounts: Trie
  private entries = new Map<string, Entry>()
  private newCode = new Map<string, Uint8Array>()

  constructor(
    readonly store: NodeStore,
    root: Uint8Array = EMPTY_ROOT,
  ) {
    this.accounts = new Trie(store, { secure: true, root })
  }

  copy(): StateDB {
    const s = new StateDB(this.store)
    s.accounts = this.accounts.copy()
    for (const [k, e] of this.entries) {
      s.entries.set(k, { ...e, account: e.account && { ...e.account }, storage: e.storage?.copy() })
    }
    s.newCode = new Map(this.newCode)
    return s
  }

  private async entry(address: Uint8Array): Promise<Entry> {
    const k = toHex(address)
    let e = this.entries.get(k)
    if (!e) {
      const v = await this.accounts.get(address)
      e = { address, account: v ? decodeAccount(v) : null, dirty: false }
      this.entries.set(k, e)
    }
    return e
  }

  async getAccount(address: Uint8Array): Promise<Account | null> {
    const e = await this.entry(address)
    return e.account && { ...e.account }
  }

  async putAccount(address: Uint8Array, account: Account): Promise<void> {
    const e = await this.entry(address)
    e.account = { ...account }
    e.dirty = true
  }

  private storageTrie(e: Entry): Trie {
    if (!e.storage)
      e.storage = new Trie(this.store, { secure: true, root: e.account?.storageRoot ?? EMPTY_ROOT })
    return e.storage
  }

  /** `slot` is a 32-byte word. */
  async getStorage(address: Uint8Array, slot: Uint8Array): Promise<bigint> {
    const e = await this.entry(address)
    if (!e.account) return 0n
    const v = await this.storageTrie(e).get(padLeft(slot, 32))
    return v ? decodeStorageValue(v) : 0n
  }

  async setStorage(address: Uint8Array, slot: Uint8Array, value: bigint): Promise<void> {
    const e = await this.entry(address)
    if (!e.account) e.account = emptyAccount()
    const t = this.storageTrie(e)
    const key = padLeft(slot, 32)
    if (value === 0n) await t.del(key)
    else await t.put(key, encodeStorageValue(bigintToBytes(value)))
    e.dirty = true
  }

  async getCode(address: Uint8Array): Promise<Uint8Array> {
    const a = await this.getAccount(address)
    if (!a || equals(a.codeHash, EMPTY_CODE_HASH)) return new Uint8Array(0)
    const pending = this.newCode.get(toHex(a.codeHash))
    if (pending) return pending
    const code = await this.store.getNode(a.codeHash)
    if (!code) throw new MissingNodeError(toHex(a.codeHash), 'contract code')
    return code
  }

  async setCode(address: Uint8Array, code: Uint8Array): Promise<void> {
    const e = await this.entry(address)
    if (!e.account) e.account = emptyAccount()
    e.account.codeHash = code.length ? keccak256(code) : EMPTY_CODE_HASH
    if (code.length) this.newCode.set(toHex(e.account.codeHash), code)
    e.dirty = true
  }

  /** Folds every change into the tries and returns the new root and nodes (nothing is written). */
  async commit(): Promise<StateCommit> {
    const nodes: [Uint8Array, Uint8Array][] = []
    const marks: (() => void)[] = []
    for (const code of this.newCode.values()) nodes.push([keccak256(code), code])
    for (const e of this.entries.values()) {
      if (!e.dirty) continue
      if (e.storage && e.account) {
        const p = e.storage.pendingNodes()
        nodes.push(...p.nodes)
        marks.push(p.markStored)
        e.account.storageRoot = p.root
      }
      if (e.account) await this.accounts.put(e.address, encodeAccount(e.account))
      else await this.accounts.del(e.address)
      e.dirty = false
    }
    const p = this.accounts.pendingNodes()
    nodes.push(...p.nodes)
    marks.push(p.markStored)
    this.newCode.clear()
    return {
      root: p.root,
      nodes,
      markStored: () => {
        for (const m of marks) m()
      },
    }
  }

  /** `commit()` and write the nodes in one batch. */
  async flush(): Promise<Uint8Array> {
    const c = await this.commit()
    if (c.nodes.length) await this.store.write({ nodes: c.nodes })
    c.markStored()
    return c.root
  }

  /** Root of the last commit (uncommitted changes are not included). */
  root(): Uint8Array {
    return this.accounts.root()
  }

  /** Drops cached accounts and loaded nodes after a flush, keeping memory flat across many blocks. */
  unload(): void {
    this.accounts.unload()
    this.entries.clear()
  }
}
