import { TableClient } from '@azure/data-tables';
import { describe, expect, inject, it } from 'vitest';

describe('Azurite peer', () => {
  it('serves the Table API on the connection string handed to the tests', async () => {
    const table = TableClient.fromConnectionString(inject('azuriteConnectionString'), 'peercheck', {
      allowInsecureConnection: true,
    });
    await table.createTable();
    await table.createEntity({ partitionKey: 'p', rowKey: 'r', value: 42 });
    const entity = await table.getEntity<{ value: number }>('p', 'r');
    expect(entity.value).toBe(42);
  });
});
