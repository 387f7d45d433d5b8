import { mount } from 'svelte'
import App from './App.svelte'

mount(App, { target: document.getElementById('app')! })

// After mounting, off the critical path: the registration code and workbox-window are a lazy chunk.
void import('./pwa.ts')
  .then(({ registerServiceWorker, showUpdateBar }) =>
    registerServiceWorker({ onUpdateAvailable: showUpdateBar }),
  )
  .then((r) => {
    document.documentElement.dataset.serviceWorker = r.state
    if (r.state === 'failed') console.warn(`rootsync: service worker not installed: ${r.error}`)
  })
