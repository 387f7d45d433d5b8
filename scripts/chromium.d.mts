/** Types for scripts/chromium.mjs (plain Node, run before dependencies are installed). */
export declare const CHROMIUM_HELP: string
export declare function findChromium(
  env?: NodeJS.ProcessEnv,
): { path: string; error?: undefined } | { path?: undefined; error: string }
export declare function onPath(name: string, env?: NodeJS.ProcessEnv): string | undefined
