import { packageConfig } from '../../scripts/tsup-package.ts';

export default packageConfig(['src/index.ts', 'src/test/index.ts']);
