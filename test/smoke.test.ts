import t from 'tap';
import { JetpackError } from '../shared/src/errors.js';
t.equal(new JetpackError('usage', 'x').exitCode, 2);
