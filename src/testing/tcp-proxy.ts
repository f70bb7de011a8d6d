import net from 'node:net';

/**
 * A TCP proxy for fault injection (database faults in tests and `npm run chaos`): clients connect
 * to `url`'s port instead of the real server's, and the test breaks the path between them.
 *
 * - `cutAll()`: destroy every open connection, both sides (a network cut / server crash). New
 *   connections are still accepted and forwarded.
 * - `pause()`: refuse new connections (ECONNREFUSED: the server is down) and cut the open ones.
 * - `blackhole()`: accept new connections but never forward a byte nor answer (a peer that does not
 *   answer: a dropped route, a frozen host); open connections are cut.
 * - `freeze()`: like blackhole, but open connections stay open and silently stop carrying bytes
 *   (a peer that hangs mid-conversation).
 * - `resume()`: forward new connections again (frozen ones stay frozen).
 *
 * Only `pause()` closes the listening socket, so the port stays the same across pause/resume.
 *
 * @example
 * const proxy = await TcpProxy.start({ target: { host: '127.0.0.1', port: 5432 } });
 * const url = `postgres://postgres@127.0.0.1:${proxy.port}/test`;
 * proxy.cutAll(); // every connection through the proxy is gone
 * await proxy.pause(); // the next connection attempt is refused
 * await proxy.resume();
 * await proxy.close();
 */
export class TcpProxy {
  /** Connections forwarded so far (for reports). */
  accepted = 0;
  /** Connections destroyed by cutAll/pause/blackhole. */
  cut = 0;
  #server: net.Server | undefined;
  #mode: 'forward' | 'refuse' | 'blackhole' = 'forward';
  readonly #sockets = new Set<net.Socket>();

  private constructor(
    readonly port: number,
    private readonly target: { readonly host: string; readonly port: number },
  ) {}

  /** Listen on 127.0.0.1 (`port` 0, the default, picks a free one) and forward to `target`. */
  static async start(options: { target?: { host: string; port: number }; port?: number } = {}): Promise<TcpProxy> {
    const target = options.target ?? { host: '127.0.0.1', port: 5432 };
    const server = net.createServer();
    const port = await listen(server, options.port ?? 0);
    const proxy = new TcpProxy(port, target);
    proxy.#attach(server);
    return proxy;
  }

  get mode(): 'forward' | 'refuse' | 'blackhole' {
    return this.#mode;
  }

  /** Connections open now (client side and server side each count). */
  get open(): number {
    return this.#sockets.size;
  }

  /** Destroy every open connection; keep accepting new ones. Returns how many client connections were cut. */
  cutAll(): number {
    let clients = 0;
    for (const socket of this.#sockets) {
      if ((socket as { proxySide?: string }).proxySide === 'client') clients++;
      socket.destroy();
    }
    this.#sockets.clear();
    this.cut += clients;
    return clients;
  }

  /** Refuse new connections (the port is closed) and cut the open ones. */
  async pause(): Promise<void> {
    this.#mode = 'refuse';
    this.cutAll();
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Accept new connections and hold them silently; cut the open ones. */
  async blackhole(): Promise<void> {
    await this.#listening();
    this.#mode = 'blackhole';
    this.cutAll();
  }

  /** Accept new connections and hold them silently; open ones stay open but carry nothing more. */
  async freeze(): Promise<void> {
    await this.#listening();
    this.#mode = 'blackhole';
    for (const socket of this.#sockets) {
      socket.unpipe();
      socket.removeAllListeners('data');
      socket.resume(); // read and discard
    }
  }

  /** Forward new connections again. */
  async resume(): Promise<void> {
    await this.#listening();
    this.#mode = 'forward';
  }

  /** Stop listening and cut everything. */
  async close(): Promise<void> {
    await this.pause();
  }

  async #listening(): Promise<void> {
    if (this.#server !== undefined) return;
    const server = net.createServer();
    await listen(server, this.port);
    this.#attach(server);
  }

  #attach(server: net.Server): void {
    this.#server = server;
    server.on('connection', (client) => this.#onConnection(client));
  }

  #onConnection(client: net.Socket): void {
    this.#track(client, 'client');
    if (this.#mode !== 'forward') {
      // Blackhole: keep the socket open, read and discard. (Refuse never gets here: no listener.)
      client.resume();
      return;
    }
    this.accepted++;
    const upstream = net.connect(this.target.port, this.target.host);
    this.#track(upstream, 'server');
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  }

  #track(socket: net.Socket, side: 'client' | 'server'): void {
    (socket as { proxySide?: string }).proxySide = side;
    this.#sockets.add(socket);
    // A cut socket's peer sees ECONNRESET; that is the point, not an error of the proxy.
    socket.on('error', () => undefined);
    socket.on('close', () => this.#sockets.delete(socket));
  }
}

function listen(server: net.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}
