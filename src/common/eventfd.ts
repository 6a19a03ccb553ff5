import { EventEmitter } from 'eventemitter3';

/** An eventfd: a counter that wakes whoever listens (KVM irqfd, a VMM handler). */
export class EventFd extends EventEmitter<{ signal: [count: number] }> {
  count = 0;

  constructor(readonly label = 'eventfd') {
    super();
  }

  signal(): void {
    this.count++;
    this.emit('signal', this.count);
  }
}
