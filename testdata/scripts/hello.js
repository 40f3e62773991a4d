// Not executable: the engine picks node by the .js extension.
console.log("node " + typeof process.version);
