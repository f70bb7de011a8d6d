export { AuditLog, cliActor, MAX_DETAILS_CHARS, type AuditActor, type AuditEntry } from './audit-log.js';
export { parseAuditQuery, type AuditFilterText } from './audit-query.js';
export {
  SqlAuditStore,
  DEFAULT_AUDIT_LIMIT,
  MAX_AUDIT_LIMIT,
  type AuditEvent,
  type AuditEventInput,
  type AuditPage,
  type AuditQuery,
} from './audit-store.js';
