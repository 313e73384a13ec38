Attribute VB_Name = "PortalRibbon"
' Parent Portal ribbon callbacks: each button runs one action of addin.excel.entry.run.
Option Explicit

Private Function WorkbookIsReady() As Boolean
    If ActiveWorkbook Is Nothing Then
        MsgBox "Open a Parent Portal workbook first, such as a template your district " & _
            "gave you. A file opened in Protected View needs Enable Editing first.", _
            vbInformation, "Parent Portal"
        Exit Function
    End If
    WorkbookIsReady = True
End Function

' Check Headers (users.check)
Public Sub UsersCheck(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('users.check')"
End Sub

' Simulate (users.simulate)
Public Sub UsersSimulate(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('users.simulate')"
End Sub

' Import (users.apply)
Public Sub UsersApply(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('users.apply')"
End Sub

' Check Headers (links.check)
Public Sub LinksCheck(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('links.check')"
End Sub

' Simulate (links.simulate)
Public Sub LinksSimulate(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('links.simulate')"
End Sub

' Import (links.apply)
Public Sub LinksApply(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('links.apply')"
End Sub

' Check Headers (roster.check)
Public Sub RosterCheck(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('roster.check')"
End Sub

' Simulate (roster.simulate)
Public Sub RosterSimulate(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('roster.simulate')"
End Sub

' Import (roster.apply)
Public Sub RosterApply(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('roster.apply')"
End Sub

' Simulate (autocreate.simulate)
Public Sub AutocreateSimulate(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('autocreate.simulate')"
End Sub

' Create Accounts (autocreate.apply)
Public Sub AutocreateApply(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('autocreate.apply')"
End Sub

' Coverage (coverage)
Public Sub Coverage(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('coverage')"
End Sub

' Send Activation (activation.send)
Public Sub ActivationSend(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('activation.send')"
End Sub

' Letters (letters)
Public Sub Letters(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('letters')"
End Sub

' Rename Logon (user.rename)
Public Sub UserRename(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('user.rename')"
End Sub

' Merge Logons (user.merge)
Public Sub UserMerge(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('user.merge')"
End Sub

' Year End (lifecycle.year-end)
Public Sub LifecycleYearEnd(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('lifecycle.year-end')"
End Sub

' Undo Batch (batches.undo)
Public Sub BatchesUndo(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('batches.undo')"
End Sub

' Look Up (lookup)
Public Sub Lookup(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('lookup')"
End Sub

' New Template (template.new)
Public Sub TemplateNew(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('template.new')"
End Sub

' Self-Test (self-test)
Public Sub SelfTest(control As IRibbonControl)
    If Not WorkbookIsReady() Then Exit Sub
    RunPython "import addin.excel.entry; addin.excel.entry.run('self-test')"
End Sub
