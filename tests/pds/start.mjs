// Starts a PLC and a Bluesky PDS (@atproto/dev-env, no AppView) on 127.0.0.1 for klapper's tests.
// Run with the install folder as cwd (.pds/app, made by .ci/pds-setup). Prints one JSON line
// {"pds": url, "plc": url} when ready; stops when stdin closes or on SIGTERM.
import net from 'node:net'
import path from 'node:path'
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

// No AppView: app.bsky.* reads answer "no service configured" instead of reaching for one.
const network = await devEnv.TestNetworkNoAppView.create({
  pds: { bskyAppViewUrl: undefined, bskyAppViewDid: undefined },
})
const loopback = (url) => url.replace('//localhost:', '//127.0.0.1:')
process.stdout.write(JSON.stringify({ pds: loopback(network.pds.url), plc: loopback(network.plc.url) }) + '\n')

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
process.stdin.on('end', stop)
process.stdin.resume()
