import { Admin } from '@platformatic/kafka';
const admin = new Admin({ clientId: 'q', bootstrapBrokers: ['127.0.0.1:9092'] });
const v = process.argv[2];
await admin.alterClientQuotas({ entries: [{ entities: [{ entityType: 'client-id', entityName: 'ws2kafka' }], ops: [v === 'off' ? { key: 'producer_byte_rate', remove: true } : { key: 'producer_byte_rate', value: Number(v), remove: false }] }] });
await admin.close();
