import { packageConfig } from '../../scripts/tsup-package.ts';

export default packageConfig(['src/index.ts', 'src/state-file.ts']);
