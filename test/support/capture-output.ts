// Setup file run in every test worker: whatever the worker prints also goes to the leak canary.
import { teeStream } from './canary.js';

teeStream(process.stdout);
teeStream(process.stderr);
