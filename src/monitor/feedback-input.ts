import { invalid } from '../core/errors.js';
import { isPlainObject } from '../tensor/format.js';
import type { FeedbackItem } from './prediction-store.js';

/** Most feedback items in one request. */
export const MAX_FEEDBACK_ITEMS = 100_000;

/**
 * Read feedback from a client: `{request_id, label}` or `{request_id, value}`, a list of them, or
 * `{"feedback": [...]}`. Labels may be strings, integers or booleans (stored as text, compared with
 * the predicted label's text); values are finite numbers. Every problem is reported at once.
 */
export function parseFeedback(body: unknown): FeedbackItem[] {
  const list = Array.isArray(body)
    ? body
    : isPlainObject(body) && Array.isArray(body.feedback)
      ? body.feedback
      : [body];
  if (list.length === 0)
    throw invalid('no feedback: send {"request_id", "label"} or {"request_id", "value"}, or a list of them');
  if (list.length > MAX_FEEDBACK_ITEMS)
    throw invalid(`at most ${MAX_FEEDBACK_ITEMS} feedback items per request, got ${list.length}`);
  const problems: string[] = [];
  const items: FeedbackItem[] = [];
  list.forEach((raw: unknown, i) => {
    const where = list.length === 1 ? 'feedback' : `feedback[${i}]`;
    if (!isPlainObject(raw))
      return void problems.push(`${where}: expected an object with "request_id" and "label" or "value"`);
    const requestId = raw.request_id;
    if (typeof requestId !== 'string' || requestId === '' || requestId.length > 256)
      return void problems.push(`${where}: "request_id" must be a non-empty string (the id of the inference response)`);
    const { label, value } = raw;
    if ((label === undefined || label === null) === (value === undefined || value === null))
      return void problems.push(`${where}: send exactly one of "label" (classification) and "value" (regression)`);
    if (label !== undefined && label !== null) {
      if (typeof label === 'boolean') items.push({ requestId, label: label ? '1' : '0' });
      else if (typeof label === 'string' && label !== '') items.push({ requestId, label });
      else if (typeof label === 'number' && Number.isFinite(label)) items.push({ requestId, label: String(label) });
      else problems.push(`${where}: "label" must be a non-empty string, a number or a boolean`);
      return;
    }
    if (typeof value !== 'number' || !Number.isFinite(value))
      return void problems.push(`${where}: "value" must be a finite number`);
    items.push({ requestId, value });
  });
  if (problems.length > 0)
    throw invalid(
      `invalid feedback: ${problems.slice(0, 20).join('; ')}${problems.length > 20 ? `; and ${problems.length - 20} more` : ''}`,
      problems,
    );
  return items;
}
