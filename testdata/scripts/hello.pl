# Not executable: the engine picks perl by the .pl extension.
print "perl $]\n" if $] >= 5;
