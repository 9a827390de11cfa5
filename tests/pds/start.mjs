// Starts a PLC and a Bluesky PDS (@atproto/dev-env) on 127.0.0.1 for klapper's tests; with the
// argument "appview", Bluesky's AppView as well (dev-env's TestNetwork: AppView, bsync and Ozone
// on PostgreSQL at $DB_POSTGRES_URL; $REDIS_HOST is required by TestNetwork), and the PDS proxies
// app.bsky.* reads to it as bsky.social does. Run with the install folder as cwd (.pds/app, made
// by .ci/pds-setup). Prints one JSON line {"pds", "plc"[, "appview"]} when ready. Each stdin line
// "sync" makes the AppView index everything the PDS has sequenced, then prints {"synced": ms}.
// Stops when stdin closes or on SIGTERM.
import net from 'node:net'
import path from 'node:path'
import readline from 'node:readline'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

// The dev servers call listen(port) and would accept on every interface: keep them on loopback.
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1')
  return listen.apply(this, args)
}

// This script lives in the repository; the packages live in the install folder.
const require = createRequire(path.join(process.cwd(), 'package.json'))
const devEnv = await import(pathToFileURL(require.resolve('@atproto/dev-env')).href)

const withAppView = process.argv[2] === 'appview'
const network = withAppView
  // Each test run has its own PostgreSQL cluster, so a fixed schema name cannot collide.
  ? await devEnv.TestNetwork.create({ dbPostgresSchema: 'klapper' })
  // No AppView: app.bsky.* reads answer "no service configured" instead of reaching for one.
  : await devEnv.TestNetworkNoAppView.create({
    pds: { bskyAppViewUrl: undefined, bskyAppViewDid: undefined },
  })
const loopback = (url) => url.replace('//localhost:', '//127.0.0.1:')
const ready = { pds: loopback(network.pds.url), plc: loopback(network.plc.url) }
if (withAppView) ready.appview = loopback(network.bsky.url)
const say = (message) => process.stdout.write(JSON.stringify(message) + '\n')
say(ready)

let closing = false
const stop = async () => {
  if (closing) return
  closing = true
  try {
    await network.close()
  } finally {
    process.exit(0)
  }
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)

// Commands are handled one at a time, in order, so each answer belongs to the line before it.
let queue = Promise.resolve()
const commands = readline.createInterface({ input: process.stdin })
commands.on('line', (line) => {
  queue = queue.then(async () => {
    if (line.trim() !== 'sync') return say({ error: `unknown command ${JSON.stringify(line)}; known: sync` })
    const started = Date.now()
    try {
      await network.processAll()
      say({ synced: Date.now() - started })
    } catch (err) {
      say({ error: String(err?.message ?? err) })
    }
  })
})
commands.on('close', () => queue.then(stop))
