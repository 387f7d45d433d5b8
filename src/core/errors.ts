/**
 * Typed errors. Every failure a caller can act on has its own `code`, so code that handles errors
 * switches on `err.code` instead of parsing messages, and messages stay free to be written for people.
 */
export class RootsyncError extends Error {
  readonly code: string
  readonly details: Record<string, unknown>
  constructor(code: string, message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.name = 'RootsyncError'
    this.code = code
    this.details = details
  }
}

/** Bytes that are not valid RLP (or RLP of the wrong shape). */
export class RlpError extends RootsyncError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('RLP_INVALID', message, details)
    this.name = 'RlpError'
  }
}

/** Bytes that are valid RLP but not a valid trie node. */
export class NodeDecodeError extends RootsyncError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('NODE_INVALID', message, details)
    this.name = 'NodeDecodeError'
  }
}

/** A node the trie needs is not in the node store (incomplete or pruned state). */
export class MissingNodeError extends RootsyncError {
  readonly hash: string
  constructor(hash: string, context = '') {
    super('NODE_MISSING', `trie node ${hash} is not in the store${context ? ` (${context})` : ''}`, { hash })
    this.name = 'MissingNodeError'
    this.hash = hash
  }
}

/** A Merkle proof that does not prove what it claims. */
export class ProofError extends RootsyncError {
  constructor(reason: string, message: string, details: Record<string, unknown> = {}) {
    super(`PROOF_${reason}`, message, details)
    this.name = 'ProofError'
  }
}

/** Malformed user input: a hex string, an address, a genesis file. */
export class InputError extends RootsyncError {
  constructor(message: string, details: Record<string, unknown> = {}) {
    super('INPUT_INVALID', message, details)
    this.name = 'InputError'
  }
}
