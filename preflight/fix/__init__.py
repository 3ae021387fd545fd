"""``preflight fix``: turn what the registry step already learned into exact edits of the files.

* ``policy``: which "did you mean" suggestion is safe to apply (pure; rules use it too);
* ``plan``: from documents, findings and registry facts to edits and listed references (pure), with
  ``place`` finding where the changed characters are written and ``changes`` the types of a plan;
* ``edits``: offsets of a written reference, applying edits byte for byte, diffs, atomic writes.
"""
