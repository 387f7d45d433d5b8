import { mount } from 'svelte'
import App from './App.svelte'

mount(App, { target: document.getElementById('app')! })

// Off the critical path: the registration code and workbox-window are a lazy chunk, registered once
// the page has loaded and the main thread is idle (registering during start-up showed up as a
// 50–60 ms long task in bench:browser).
function registerWhenIdle() {
  void import('./pwa.ts')
    .then(({ registerServiceWorker, showUpdateBar }) =>
      registerServiceWorker({ onUpdateAvailable: showUpdateBar }),
    )
    .then((r) => {
      document.documentElement.dataset.serviceWorker = r.state
      if (r.state === 'failed') console.warn(`rootsync: service worker not installed: ${r.error}`)
    })
}
const idle = (f: () => void) =>
  'requestIdleCallback' in window ? requestIdleCallback(f, { timeout: 2000 }) : setTimeout(f, 200)
if (document.readyState === 'complete') idle(registerWhenIdle)
else addEventListener('load', () => idle(registerWhenIdle), { once: true })
