# header-functions.awk -- print the name of every function declared at file
# scope in a C header, one per line, in header order.
#
#   awk -f header-functions.awk include/attnroll.h
#
# POSIX awk (mawk, gawk, busybox).  The header is read as C text, not
# preprocessed: comments and preprocessor directives (with their backslash
# continuations) are dropped, the rest is cut into declarations at ';', and a
# declaration is a function declaration when it has a '(' that does not start a
# function pointer '(*'.  Its name is the identifier right before that '('.
# typedefs are not functions.  Anything that looks like a declaration but has
# no name there makes the script exit 2, so that a header construct this
# parser does not understand fails the test instead of being skipped.

BEGIN { in_comment = 0; in_pp = 0; text = "" }

{
    line = $0
    raw = $0

    # Strip comments first (translation phase 3 comes before directives):
    # block comments may span lines; // comments end the line.
    out = ""
    while (length(line) > 0) {
        if (in_comment) {
            p = index(line, "*/")
            if (p == 0) { line = ""; break }
            line = substr(line, p + 2)
            in_comment = 0
            out = out " "
            continue
        }
        pb = index(line, "/*")
        pl = index(line, "//")
        if (pb == 0 && pl == 0) { out = out line; break }
        if (pl != 0 && (pb == 0 || pl < pb)) { out = out substr(line, 1, pl - 1); break }
        out = out substr(line, 1, pb - 1)
        line = substr(line, pb + 2)
        in_comment = 1
    }

    # Preprocessor directive: runs on while lines end with a backslash or a
    # comment opened on it is still open.
    if (in_pp || out ~ /^[ \t]*#/) {
        in_pp = (raw ~ /\\$/) || in_comment
        next
    }
    text = text " " out
}

END {
    if (in_comment) { print "header-functions.awk: unterminated comment" > "/dev/stderr"; exit 2 }

    # extern "C" { ... } is a linkage block, not a scope.
    gsub(/extern[ \t]*"C"[ \t]*\{/, " ", text)

    n = split(text, decl, ";")
    depth = 0
    status = 0
    for (i = 1; i <= n; i++) {
        d = decl[i]
        # Braces: struct / union / enum bodies.  A declaration is at file scope
        # if it starts at depth 0 (after any closing braces it begins with).
        start_depth = depth
        tmp = d
        opens = gsub(/\{/, "{", tmp)
        closes = gsub(/\}/, "}", tmp)
        depth += opens - closes
        # A lone '}' closing the extern "C" block leaves depth negative.
        if (depth < 0) depth = 0
        if (start_depth > 0) continue
        # Text after the last '}' of a "typedef struct x { ... } x" is part of a typedef.
        gsub(/^[ \t]+/, "", d)
        if (d ~ /^typedef[^A-Za-z0-9_]/) continue
        if (d ~ /^\}/) { sub(/^\}[ \t]*/, "", d) }
        if (d ~ /^typedef[^A-Za-z0-9_]/) continue
        if (index(d, "{") > 0) continue      # struct/enum definition without typedef
        p = index(d, "(")
        if (p == 0) continue                 # a variable or an empty declaration
        rest = substr(d, p + 1)
        if (rest ~ /^[ \t]*\*/) continue     # function pointer variable
        head = substr(d, 1, p - 1)
        sub(/[ \t]+$/, "", head)
        if (match(head, /[A-Za-z_][A-Za-z0-9_]*$/) == 0) {
            print "header-functions.awk: cannot find the name in: " d > "/dev/stderr"
            status = 2
            continue
        }
        name = substr(head, RSTART, RLENGTH)
        if (name == "__attribute__" || name == "__declspec") {
            print "header-functions.awk: attribute before the name is not supported: " d > "/dev/stderr"
            status = 2
            continue
        }
        print name
    }
    exit status
}
