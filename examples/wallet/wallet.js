/**
 * The example wallet: a page without a bundler that embeds rootsync as a wallet would. It starts a
 * light client, wraps it in an EIP-1193 provider and announces that (EIP-6963); then, as the wallet's
 * own code, it discovers providers by `eip6963:requestProvider` — not by reaching for the object it
 * made — and reads balances through ethers' BrowserProvider, the way it would from any provider.
 *
 * Security considerations: the balances come from the light client's verified reads (proven against
 * the state root of a header verified from the bootstrap's checkpoint); the list of addresses from
 * the server (/accounts.json) only says what to look up. The page shows the block each set of
 * balances was verified at, so a reader can tell which state they describe.
 */
import { announceProvider, createEip1193Provider, createLightClient } from 'rootsync'
import 'rootsync/element'
import { BrowserProvider, formatEther, getAddress } from 'ethers'

const $ = (id) => document.getElementById(id)
const addresses = []
/** ethers over the discovered provider: created once the light client has a verified head. */
let eth = null
let discovered = null

function showError(e) {
  $('error').hidden = false
  $('error').textContent = e?.message ?? String(e)
}

// The embedding: one light client for this page (joining the origin's one sync where there is one),
// its provider, and the EIP-6963 announcement.
const client = createLightClient({ bootstrap: './bootstrap.json' })
document.querySelector('rootsync-status').client = client
announceProvider(createEip1193Provider(client), { name: 'rootsync example wallet' })

/** The wallet's side: the first announced provider that is rootsync's. */
function discover() {
  return new Promise((resolve) => {
    const found = (ev) => {
      if (!ev.detail?.provider?.isRootsync) return
      window.removeEventListener('eip6963:announceProvider', found)
      resolve(ev.detail)
    }
    window.addEventListener('eip6963:announceProvider', found)
    window.dispatchEvent(new Event('eip6963:requestProvider'))
  })
}

function render(block, rows) {
  $('block').textContent = String(block)
  $('balances').replaceChildren(
    ...rows.map(([address, wei]) => {
      const tr = document.createElement('tr')
      tr.dataset.address = address.toLowerCase()
      const a = document.createElement('td')
      a.innerHTML = '<code></code>'
      a.firstChild.textContent = address
      const b = document.createElement('td')
      b.className = 'balance'
      b.dataset.testid = 'balance'
      b.dataset.wei = wei.toString()
      b.dataset.block = String(block)
      b.textContent = formatEther(wei)
      tr.append(a, b)
      return tr
    }),
  )
}

// One refresh at a time; a request during one runs once more after it.
let running = null
let again = false
async function refresh() {
  if (!eth) return
  if (running) {
    again = true
    return running
  }
  running = (async () => {
    do {
      again = false
      try {
        const block = await eth.getBlockNumber()
        const rows = await Promise.all(addresses.map(async (a) => [a, await eth.getBalance(a, block)]))
        render(block, rows)
        $('error').hidden = true
      } catch (e) {
        showError(e)
      }
    } while (again)
  })()
  await running
  running = null
}

function onHead() {
  if (!discovered) return
  eth ??= new BrowserProvider(discovered.provider)
  void refresh()
}

$('lookup').addEventListener('submit', (ev) => {
  ev.preventDefault()
  try {
    const a = getAddress($('address').value.trim().toLowerCase())
    if (!addresses.includes(a)) addresses.push(a)
    $('address').value = ''
    void refresh()
  } catch (e) {
    showError(e)
  }
})

client.subscribe((e) => {
  if (e.type === 'header') onHead()
})

discovered = await discover()
$('provider').textContent = `${discovered.info.name} (${discovered.info.rdns})`
for (const a of await fetch('./accounts.json').then((r) => r.json())) addresses.push(getAddress(a))
try {
  await client.start()
} catch (e) {
  showError(e)
}
if (client.head()) onHead()
