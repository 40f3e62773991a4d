# No shebang, not executable: the engine picks bash by the .sh extension,
# or the request's Interpreter. Prints the interpreter's name and its args.
echo "comm=$(cat /proc/$$/comm) args=$*"
