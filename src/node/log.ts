/**
 * Structured logs: one JSON object per line on stderr ({ t, level, msg, …fields }), so operators can
 * grep and ship them. `quiet` drops debug lines.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error'

export interface Logger {
  (level: Level, msg: string, fields?: Record<string, unknown>): void
  child(fields: Record<string, unknown>): Logger
}

export function createLogger(
  base: Record<string, unknown> = {},
  opts: { debug?: boolean; write?: (line: string) => void } = {},
): Logger {
  const write = opts.write ?? ((line: string) => process.stderr.write(line))
  const log = ((level: Level, msg: string, fields: Record<string, unknown> = {}) => {
    if (level === 'debug' && !opts.debug) return
    write(`${JSON.stringify({ t: new Date().toISOString(), level, msg, ...base, ...fields }, bigintSafe)}\n`)
  }) as Logger
  log.child = (fields) => createLogger({ ...base, ...fields }, opts)
  return log
}

function bigintSafe(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? v.toString() : v
}
