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
