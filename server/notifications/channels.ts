import { createHmac } from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import { guardedFetchFunction, type FetchGuardOptions } from '../broker/upstreams/fetch-guard.ts';
import type { RenderedMessage } from './templates.ts';

/** One message as a channel sends it. */
export interface Outgoing {
  id: string;
  namespace: string;
  organization: string;
  message: string;
  to: string;
  rendered: RenderedMessage;
}

/** Email over SMTP (nodemailer): both parts, the language, the logo inline. */
export class SmtpChannel {
  readonly name = 'smtp';
  private transport: Transporter | undefined;
  private readonly options: Parameters<typeof nodemailer.createTransport>[0];
  private readonly from: string;

  constructor(url: string, from: string) {
    // Timeouts well inside the dispatcher's lease: an attempt never outlives the lease that covers it.
    const parsed = new URL(url);
    this.options = {
      host: parsed.hostname,
      port: Number(parsed.port || (parsed.protocol === 'smtps:' ? 465 : 587)),
      secure: parsed.protocol === 'smtps:',
      ...(parsed.username ? { auth: { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) } } : {}),
      // smtp://host?tls=insecure lets a test or a relay on loopback use a self-signed certificate.
      ...(parsed.searchParams.get('tls') === 'insecure' ? { tls: { rejectUnauthorized: false } } : {}),
      ...(parsed.searchParams.get('tls') === 'off' ? { ignoreTLS: true } : {}),
      // Pooled: a new SMTP connection per message costs ~110 ms here, a pooled one ~6 ms.
      pool: true,
      maxConnections: 2,
      maxMessages: 100,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 20_000,
    };
    this.from = from;
  }

  async send(m: Outgoing): Promise<void> {
    // Made on first use, and again after `close()`.
    this.transport ??= nodemailer.createTransport(this.options);
    await this.transport.sendMail({
      from: this.from,
      to: m.to,
      subject: m.rendered.subject,
      text: m.rendered.text,
      html: m.rendered.html,
      headers: { 'Content-Language': m.rendered.language, 'X-Gatehouse-Message': m.message, 'X-Gatehouse-Notification': m.id },
      ...(m.rendered.logo ? { attachments: [{ filename: 'logo', content: m.rendered.logo.content, contentType: m.rendered.logo.contentType, cid: 'logo' }] } : {}),
    });
  }

  close(): void {
    this.transport?.close();
    this.transport = undefined;
  }
}

export const SIGNATURE_HEADER = 'x-gatehouse-signature';
export const TIMESTAMP_HEADER = 'x-gatehouse-timestamp';

/** `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`: what a webhook receiver recomputes, refusing an old timestamp (replay). */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * The signed webhook (SMS, voice, chat through the platform team's own provider): the message
 * as JSON, POSTed through the same guard as every server-side fetch of a declared URL (https, no
 * private addresses; checked when the socket connects). A 2xx answer is delivery.
 */
export async function postWebhook(url: string, secret: string, m: Outgoing, now: number, guard: FetchGuardOptions): Promise<void> {
  const body = JSON.stringify({ id: m.id, message: m.message, namespace: m.namespace, organization: m.organization || null, to: m.to, language: m.rendered.language, subject: m.rendered.subject, text: m.rendered.text });
  const timestamp = String(Math.floor(now / 1000));
  const fetch = guardedFetchFunction({ timeoutMs: 10_000, maxBytes: 65_536, ...guard });
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', [TIMESTAMP_HEADER]: timestamp, [SIGNATURE_HEADER]: webhookSignature(secret, timestamp, body) }, body });
  if (res.status < 200 || res.status >= 300) throw new Error(`the webhook answered ${res.status}`);
}
