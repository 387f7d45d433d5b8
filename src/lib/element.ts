/**
 * `rootsync/element` (dist-lib/rootsync-status.js): defines `<rootsync-status>` (documented in
 * src/element/RootsyncStatus.svelte). Importing it again — a second copy, another URL of the same
 * file — is harmless: the name is defined only while nothing holds it (Svelte's own `tag`
 * auto-define is not used, as it would throw on the second definition).
 */
import RootsyncStatus from '../element/RootsyncStatus.svelte'

export const TAG = 'rootsync-status'

/** The element's class (Svelte's custom-element wrapper around the component). */
export const RootsyncStatusElement = (RootsyncStatus as unknown as { element: CustomElementConstructor })
  .element

if (!customElements.get(TAG)) customElements.define(TAG, RootsyncStatusElement)
