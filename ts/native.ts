// The one module that loads the native binding (generated `index.js` at the package root).
import binding = require('../index.js')

export = binding
