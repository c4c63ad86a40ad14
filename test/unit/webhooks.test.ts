/**
 * Standard Webhooks signing (the specification's own test vector), the message, the retry rule (at least 24
 * hours, 2xx ends it, 410 dead-letters at once), and which URLs and addresses may receive webhooks.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigurationError, InvalidInputError } from '../../lambdas/core/errors';
import type { JobFinishedDetail } from '../../lambdas/core/job-events';
import { addressProblem, webhookUrlProblem } from '../../lambdas/core/webhook-address';
import { parseDeliveryMessage } from '../../lambdas/core/webhook-delivery';
import {
  deliveryVerdict,
  signedWebhook,
  signWebhook,
  webhookKey,
  WEBHOOK_RETRY,
} from '../../lambdas/core/webhooks';

// The test vector published with the Standard Webhooks specification (and its reference libraries).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

const JOB = '0123456789abcdef0123456789abcdef';
const detail: JobFinishedDetail = {
  eventId: JOB,
  jobId: JOB,
  source: { kind: 'api', route: 'start-batch' },
  conversationId: 1001,
  total: 2,
  started: 2,
  rejected: 0,
  failed: 0,
  startedAt: '2026-12-01T10:00:00.000Z',
  finishedAt: '2026-12-01T10:00:03.000Z',
};

describe('signing (Standard Webhooks)', () => {
  it('reproduces the specification’s test vector', () => {
    expect(signWebhook(webhookKey(VECTOR.secret), VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(
      VECTOR.signature,
    );
  });

  it('the key is the base64-decoded part after whsec_, of 24 to 64 bytes', () => {
    expect(webhookKey(VECTOR.secret)).toEqual(Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64'));
    // Without the prefix (as the stack generates it): the same key.
    expect(webhookKey('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toEqual(webhookKey(VECTOR.secret));
    for (const bad of [
      'MfKQ9r8GKYqrTwjUPD8I',
      'whsec_',
      'whsec_c2hvcnQ=',
      'whsec_not base64!!',
      `whsec_${Buffer.alloc(65).toString('base64')}`,
    ]) {
      expect(() => webhookKey(bad)).toThrow(ConfigurationError);
    }
    try {
      webhookKey('whsec_c2hvcnQ=');
    } catch (error) {
      expect(String(error)).not.toContain('c2hvcnQ');
    }
  });

  it('a delivery verifies with node:crypto alone, as docs/EVENTS.md shows a receiver', () => {
    const signed = signedWebhook(detail, 'crm', webhookKey(VECTOR.secret), 1_764_583_203_500);
    const h = signed.headers;
    expect(h['webhook-id']).toBe(`msg_${JOB}_crm`);
    expect(h['webhook-timestamp']).toBe('1764583203');
    const key = Buffer.from(VECTOR.secret.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key)
      .update(`${h['webhook-id']}.${h['webhook-timestamp']}.${signed.body}`)
      .digest();
    const given = Buffer.from(h['webhook-signature']!.split(' ')[0]!.slice('v1,'.length), 'base64');
    expect(timingSafeEqual(expected, given)).toBe(true);
    expect(JSON.parse(signed.body)).toEqual({
      type: 'job.finished',
      timestamp: detail.finishedAt,
      data: detail,
    });
  });

  it('id and body are the same on every attempt; only the timestamp and signature move', () => {
    const a = signedWebhook(detail, 'crm', webhookKey(VECTOR.secret), 1_000_000_000_000);
    const b = signedWebhook(detail, 'crm', webhookKey(VECTOR.secret), 1_000_000_600_000);
    expect(b.id).toBe(a.id);
    expect(b.body).toBe(a.body);
    expect(b.headers['webhook-signature']).not.toBe(a.headers['webhook-signature']);
    expect(signedWebhook(detail, 'erp', webhookKey(VECTOR.secret)).id).not.toBe(a.id);
  });
});

describe('deliveryVerdict', () => {
  it.each([200, 201, 204, 299])('%s ends it', (status) => {
    expect(deliveryVerdict({ status }, 1, 0)).toEqual({ kind: 'delivered' });
  });

  it('410 goes to the dead-letter queue at once (alarmed), not retried and not silently dropped', () => {
    expect(deliveryVerdict({ status: 410 }, 1, 0)).toEqual({ kind: 'dead-letter', reason: 'gone' });
  });

  it.each([{ status: 301 }, { status: 302 }, { status: 400 }, { status: 500 }, { errorClass: 'timeout' }])(
    '%o is tried again',
    (result) => {
      expect(deliveryVerdict(result, 1, 0)).toEqual({ kind: 'retry', delayMs: 5_000 });
    },
  );

  it('keeps trying for at least 24 hours, with growing waits, then dead-letters', () => {
    let elapsed = 0;
    let attempt = 1;
    const waits: number[] = [];
    for (;;) {
      const verdict = deliveryVerdict({ status: 503 }, attempt, elapsed);
      if (verdict.kind !== 'retry') {
        expect(verdict).toEqual({ kind: 'dead-letter', reason: 'expired' });
        break;
      }
      waits.push(verdict.delayMs);
      elapsed += verdict.delayMs;
      attempt++;
    }
    expect(elapsed).toBeGreaterThanOrEqual(24 * 3_600_000);
    expect(waits.slice(0, 4)).toEqual([5_000, 300_000, 1_800_000, 7_200_000]);
    expect(Math.max(...waits)).toBeLessThanOrEqual(12 * 3_600_000); // SQS's longest visibility timeout
    expect(attempt).toBeLessThan(20);
    expect(WEBHOOK_RETRY.retryForMs).toBe(24 * 3_600_000);
  });
});

describe('where webhooks may go', () => {
  it.each([
    '127.0.0.1',
    '10.0.0.8',
    '172.16.5.4',
    '192.168.1.1',
    '169.254.169.254',
    '100.64.0.1',
    '0.0.0.0',
    '::1',
    '::',
    'fe80::1',
    'fd12:3456::1',
    '::ffff:127.0.0.1',
    '::ffff:a9fe:a9fe',
    '64:ff9b::a9fe:a9fe',
    '224.0.0.1',
  ])('refuses %s', (address) => {
    expect(addressProblem(address)).toBeDefined();
  });

  it.each(['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'])('accepts %s', (address) => {
    expect(addressProblem(address)).toBeUndefined();
  });

  it('loopback only when a local run allows it; other private ranges never', () => {
    expect(addressProblem('127.0.0.1', { allowLoopback: true })).toBeUndefined();
    expect(addressProblem('::1', { allowLoopback: true })).toBeUndefined();
    expect(addressProblem('10.0.0.1', { allowLoopback: true })).toBeDefined();
    expect(addressProblem('169.254.169.254', { allowLoopback: true })).toBeDefined();
  });

  it.each([
    ['http://hooks.example.com/x', 'must use https://'],
    ['ftp://hooks.example.com/x', 'must use https://'],
    ['https://user:pw@hooks.example.com/', 'must not hold credentials'],
    ['https://127.0.0.1/hook', 'private'],
    ['https://2130706433/hook', 'private'], // 127.0.0.1 spelled as a number
    ['https://0x7f.1/hook', 'private'],
    ['https://[::ffff:169.254.169.254]/', 'private'],
    ['https://localhost/hook', 'public host'],
    ['https://metadata.google.internal/', 'public host'],
    ['https://intranet/hook', 'public host'],
    ['not a url', 'absolute URL'],
  ])('refuses %s', (url, problem) => {
    expect(webhookUrlProblem(url)).toContain(problem);
  });

  it('accepts public https URLs; locally also http(s) to loopback, still nothing private', () => {
    expect(webhookUrlProblem('https://hooks.example.com/dana?x=1')).toBeUndefined();
    expect(webhookUrlProblem('http://127.0.0.1:8080/hook', { allowLoopback: true })).toBeUndefined();
    expect(webhookUrlProblem('http://localhost:8080/hook', { allowLoopback: true })).toBeUndefined();
    expect(webhookUrlProblem('http://10.0.0.1/hook', { allowLoopback: true })).toBeDefined();
    expect(webhookUrlProblem('http://hooks.example.com/', { allowLoopback: true })).toBeDefined();
  });
});

describe('parseDeliveryMessage', () => {
  it('takes the rule’s message', () => {
    expect(parseDeliveryMessage(JSON.stringify({ webhook: 'crm', detail }))).toEqual({
      webhook: 'crm',
      detail,
    });
  });

  it.each([
    ['not json', 'message'],
    [JSON.stringify({ webhook: 'CRM!', detail }), 'webhook'],
    [
      JSON.stringify({ webhook: 'crm', detail: { ...detail, eventId: 'x\r\nInjected: 1' } }),
      'detail.eventId',
    ],
    [JSON.stringify({ webhook: 'crm', detail: { ...detail, eventId: 'b'.repeat(32) } }), 'detail.eventId'],
    [JSON.stringify({ webhook: 'crm', detail: { ...detail, finishedAt: 5 } }), 'detail.finishedAt'],
  ])('refuses %s', (body, target) => {
    try {
      parseDeliveryMessage(body);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidInputError);
      expect((error as InvalidInputError).target).toBe(target);
    }
  });
});
