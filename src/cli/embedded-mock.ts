// The built-in mock feed `run` reads when no --url is given.
export async function startEmbeddedMock(rate: number): Promise<{ url: string; close: () => Promise<void> }> {
  const { startMockServer } = await import('../mock/server.ts');
  const mock = await startMockServer({ port: 0, rate });
  return { url: mock.url, close: () => mock.close() };
}
