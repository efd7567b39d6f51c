"""The grammar of the EzPC language (ezpc.lark), installed as package data of ezlang."""
