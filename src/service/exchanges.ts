import { getExchange, supportedExchanges } from '../exchanges/registry.ts';
import type { CliIo } from './io.ts';
import { colorEnabled, renderTable } from './table.ts';

/** `market-collector exchanges`: the registered exchanges, their data types and endpoints. */

export interface ExchangesFlags {
  readonly json?: boolean | undefined;
}

export function exchangesCommand(flags: ExchangesFlags, io: CliIo): number {
  const exchanges = supportedExchanges().map((id) => {
    const adapter = getExchange(id);
    return { id, dataTypes: [...adapter.dataTypes], defaultEndpoint: adapter.defaultEndpoint };
  });
  if (flags.json === true) {
    io.stdout.write(`${JSON.stringify(exchanges, null, 2)}\n`);
    return 0;
  }
  const rows = exchanges.map((e) => [e.id, e.dataTypes.join(', '), e.defaultEndpoint]);
  io.stdout.write(
    renderTable(['EXCHANGE', 'DATA TYPES', 'DEFAULT ENDPOINT'], rows, colorEnabled(io)),
  );
  return 0;
}
