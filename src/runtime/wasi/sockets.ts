/**
 * wasi:sockets, denied: a plugin reaches the network only through the API-server policy
 * (krew-wasm:outbound-http or wasi:http). Creating a socket fails with `access-denied` and name
 * lookups with `permanent-resolver-failure`, values a guest's libc understands, before any syscall.
 */

class Network {}
class TcpSocket {}
class UdpSocket {}
class IncomingDatagramStream {}
class OutgoingDatagramStream {}
class ResolveAddressStream {}

const deny = (): never => {
  throw 'access-denied';
};

export function socketImports(): Record<string, unknown> {
  return {
    'wasi:sockets/network': { Network },
    'wasi:sockets/instance-network': { instanceNetwork: () => new Network() },
    'wasi:sockets/tcp': { TcpSocket },
    'wasi:sockets/tcp-create-socket': { createTcpSocket: deny },
    'wasi:sockets/udp': { UdpSocket, IncomingDatagramStream, OutgoingDatagramStream },
    'wasi:sockets/udp-create-socket': { createUdpSocket: deny },
    'wasi:sockets/ip-name-lookup': {
      ResolveAddressStream,
      resolveAddresses: (): never => {
        throw 'permanent-resolver-failure';
      },
    },
  };
}
