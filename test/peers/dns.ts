import type { AddressInfo } from 'node:net';
import { Packet, UDPServer, type Question, type Resource } from 'dns2';

/** An address with its TTL; a bare string uses the peer's default TTL (300 s). */
export type Address = string | { readonly address: string; readonly ttl: number };

/** How the peer answers queries for one name. */
export type Behaviour =
  /** A and AAAA records (either may be missing: an empty section is "no data", rcode 0). */
  | { readonly kind: 'answer'; readonly a?: readonly Address[]; readonly aaaa?: readonly Address[] }
  /** The name is an alias; A/AAAA answers carry the CNAME chain and then the terminal name's records. */
  | { readonly kind: 'cname'; readonly target: string; readonly ttl?: number }
  /** A different address set on each query of a type (round-robin over the list). */
  | { readonly kind: 'rotate'; readonly a: readonly (readonly string[])[]; readonly aaaa?: readonly (readonly string[])[] }
  | { readonly kind: 'nxdomain' }
  | { readonly kind: 'servfail' }
  | { readonly kind: 'refused' }
  /** Never replies, so the resolver times out. */
  | { readonly kind: 'silence' }
  /** Replies NOERROR with an A record whose data is 3 bytes long: a malformed answer. */
  | { readonly kind: 'garbage' };

export interface SeenQuery {
  readonly name: string;
  readonly type: string;
}

export interface DnsPeer {
  /** "127.0.0.1:<port>", the form the resolver's setServers() and the config take. */
  readonly server: string;
  /** Every query received, in order. */
  readonly queries: SeenQuery[];
  /** The most queries that were waiting for a reply at the same time. */
  readonly maxInFlight: number;
  set(name: string, behaviour: Behaviour): void;
  close(): Promise<void>;
}

export interface DnsPeerOptions {
  /** Hold every reply this long, so concurrent queries overlap at the peer. */
  readonly delayMs?: number;
}

const DEFAULT_TTL = 300;
const MAX_CHAIN = 10;
const TYPE_NAMES = new Map<number, string>(Object.entries(Packet.TYPE).map(([name, code]) => [code, name]));
/** RFC 1035 section 4.1.1 response codes (dns2 exports them at runtime but does not type them). */
const RCODE = { SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;

/**
 * A real DNS server on 127.0.0.1 (UDP, a free port) speaking the wire protocol to node's c-ares
 * resolver. Names not in the zone get NXDOMAIN, like an authoritative server.
 */
export async function startDnsPeer(zone: Record<string, Behaviour> = {}, options: DnsPeerOptions = {}): Promise<DnsPeer> {
  const names = new Map(Object.entries(zone).map(([name, behaviour]) => [normalise(name), behaviour]));
  const rotations = new Map<string, number>();
  const queries: SeenQuery[] = [];
  let inFlight = 0;
  let maxInFlight = 0;

  const server = new UDPServer((request, send) => {
    const question = request.questions[0];
    if (!question) return;
    const name = normalise(question.name);
    queries.push({ name, type: TYPE_NAMES.get(question.type) ?? String(question.type) });
    const behaviour = names.get(name) ?? { kind: 'nxdomain' };
    if (behaviour.kind === 'silence') return;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    setTimeout(() => {
      inFlight--;
      void send(behaviour.kind === 'garbage' ? malformedAnswer(request) : answer(request, question, name, behaviour));
    }, options.delayMs ?? 0);
  });

  function answer(request: Packet, question: Question, name: string, behaviour: Behaviour): Packet {
    const response = Packet.createResponseFromRequest(request);
    response.header.aa = 1;
    response.header.ra = 1;
    switch (behaviour.kind) {
      case 'nxdomain':
        response.header.rcode = RCODE.NXDOMAIN;
        return response;
      case 'servfail':
        response.header.rcode = RCODE.SERVFAIL;
        return response;
      case 'refused':
        response.header.rcode = RCODE.REFUSED;
        return response;
      default:
        response.answers = records(question.type, name, behaviour, 0);
        return response;
    }
  }

  function records(type: number, name: string, behaviour: Behaviour | undefined, depth: number): Resource[] {
    if (!behaviour || depth > MAX_CHAIN) return [];
    switch (behaviour.kind) {
      case 'answer':
        if (type === Packet.TYPE.A) return (behaviour.a ?? []).map((a) => address(name, Packet.TYPE.A, a));
        if (type === Packet.TYPE.AAAA) return (behaviour.aaaa ?? []).map((a) => address(name, Packet.TYPE.AAAA, a));
        return [];
      case 'rotate': {
        const sets = type === Packet.TYPE.A ? behaviour.a : type === Packet.TYPE.AAAA ? (behaviour.aaaa ?? []) : [];
        if (sets.length === 0) return [];
        const key = `${name}/${type}`;
        const turn = rotations.get(key) ?? 0;
        rotations.set(key, turn + 1);
        return (sets[turn % sets.length] ?? []).map((a) => address(name, type, a));
      }
      case 'cname': {
        const target = normalise(behaviour.target);
        const alias = new Packet.Resource({
          name,
          type: Packet.TYPE.CNAME,
          class: Packet.CLASS.IN,
          ttl: behaviour.ttl ?? DEFAULT_TTL,
          domain: target,
        });
        if (type === Packet.TYPE.CNAME) return [alias];
        return [alias, ...records(type, target, names.get(target), depth + 1)];
      }
      default:
        return [];
    }
  }

  server.on('requestError', () => {
    // Undecodable queries are ignored, as a real server would.
  });
  await server.listen(0, '127.0.0.1');
  const { port } = server.address() as AddressInfo;
  return {
    server: `127.0.0.1:${port}`,
    queries,
    get maxInFlight() {
      return maxInFlight;
    },
    set(name, behaviour) {
      names.set(normalise(name), behaviour);
    },
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

function address(name: string, type: number, entry: Address): Resource {
  const { address: value, ttl } = typeof entry === 'string' ? { address: entry, ttl: DEFAULT_TTL } : entry;
  return new Packet.Resource({ name, type, class: Packet.CLASS.IN, ttl, address: value });
}

/** A NOERROR reply echoing the question, with one A record whose RDLENGTH is 3 (an IPv4 address needs 4). */
function malformedAnswer(request: Packet): Buffer {
  const valid = Packet.createResponseFromRequest(request);
  valid.answers = [address(request.questions[0]!.name, Packet.TYPE.A, '192.0.2.1')];
  const buffer = Buffer.from(valid.toBuffer());
  // The last 6 bytes are RDLENGTH (2) and the 4 address bytes.
  buffer.writeUInt16BE(3, buffer.length - 6);
  return buffer.subarray(0, buffer.length - 1);
}

function normalise(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}
