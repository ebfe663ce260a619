/**
 * Every endpoint a test talks to must be on this machine. A stand-in that
 * accidentally binds a public interface, or a test pointed at a real Azure
 * host, is refused here rather than discovered in a packet capture.
 */
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Throws unless the URL (or host[:port]) points at a loopback address. */
export function assertLoopback(endpoint: string): string {
  const url = new URL(endpoint.includes('://') ? endpoint : `tcp://${endpoint}`);
  if (!isLoopbackHost(url.hostname)) {
    throw new Error(`Refusing non-loopback test endpoint ${endpoint}: tests may only reach this machine.`);
  }
  return endpoint;
}

/**
 * Why a request reaching one of our loopback servers is not addressed to it, or undefined when it is.
 * Binding 127.0.0.1 keeps other machines out, not web pages: a page on a DNS name its owner controls
 * can rebind that name to 127.0.0.1 (DNS rebinding), and the user's browser then sends the page's
 * requests here, same-origin for the page, with the page's name in the Host header. Only a loopback
 * name with this server's own port is accepted; browsers always send the Host they connected to.
 */
export function loopbackHostProblem(
  host: string | undefined,
  port: number,
  scheme: 'http' | 'https' = 'http',
): string | undefined {
  const expected = `Use ${scheme}://127.0.0.1:${port} (or localhost:${port}).`;
  if (!host)
    return `The request names no Host; this loopback server answers only requests addressed to it. ${expected}`;
  let url: URL;
  try {
    url = new URL(`${scheme}://${host}`);
  } catch {
    return `The Host header is not a host name. ${expected}`;
  }
  const requestedPort = url.port || (scheme === 'https' ? '443' : '80');
  const isBareHost =
    url.username === '' && url.password === '' && url.pathname === '/' && !/[/?#@]/.test(host);
  if (!isBareHost || !isLoopbackHost(url.hostname) || requestedPort !== String(port)) {
    return `Host ${JSON.stringify(host.slice(0, 100))} is not this server: it answers only requests addressed to a loopback name with its own port, so a web page cannot reach it by DNS rebinding. ${expected}`;
  }
  return undefined;
}

/** The status a loopback server answers a request for another host with (RFC 9110 §15.5.20: Misdirected Request). */
export const MISDIRECTED_REQUEST = 421;
