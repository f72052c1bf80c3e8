// Setup file run in every test worker: whatever the worker prints also goes to the leak canary, and every value
// a production Redactor learns here becomes a secret the canary searches for.
import { registerLearnedValues, teeStream } from './canary.js';

teeStream(process.stdout);
teeStream(process.stderr);
registerLearnedValues();
