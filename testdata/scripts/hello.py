# Not executable: the engine picks python3 by the .py extension.
import sys
print("python", sys.version_info[0])
