import { mount } from 'svelte'
import App from './App.svelte'

/** Set by vite.config.ts: this build's name (ROOTSYNC_BUILD_ID, or the version and build time). */
declare const __ROOTSYNC_BUILD__: string

mount(App, { target: document.getElementById('app')! })

// Which build is running, for a person (the footer) and for a test (<html data-build>): after an
// update the two builds differ only here.
document.documentElement.dataset.build = __ROOTSYNC_BUILD__
const footer = document.createElement('footer')
footer.className = 'note'
footer.style.padding = '0.5rem 1rem 3rem' // clear of the update bar, which is fixed at the bottom
footer.dataset.testid = 'build'
footer.textContent = `rootsync build ${__ROOTSYNC_BUILD__}`
document.body.append(footer)

// Off the critical path: the registration code and workbox-window are a lazy chunk, registered once
// the page has loaded and the main thread is idle (registering during start-up showed up as a
// 50–60 ms long task in bench:browser). `updateCheckMs=` in the URL sets how often an open page
// asks for a new build (default 30 minutes).
function registerWhenIdle() {
  const every = Number(new URLSearchParams(location.search).get('updateCheckMs'))
  void import('./pwa.ts')
    .then(({ registerServiceWorker, showUpdateBar }) =>
      registerServiceWorker({
        onUpdateAvailable: showUpdateBar,
        ...(every > 0 ? { checkEveryMs: every } : {}),
      }),
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
